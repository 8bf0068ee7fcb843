// Finetune: limited-data distillation (train/Distillation) of ctx.teacher into the quantized
// graph on the calibration images, loaded once at the model's input size; weights, biases and
// QuantParams scales are written back. Needs SnapshotTeacher and images. Report section
// "finetune" (losses per stage and block, the learning rate and budget used, seconds).
#include "pipeline/QuantizePipeline.h"
#include "support/Progress.h"

namespace lowbit {

void runFinetune(QuantizeContext &ctx) {
  if (ctx.images.empty()) throw Error("--finetune needs the calibration images (--calib DIR), not --calib-from");
  if (!ctx.teacher) throw Error("the fine-tune needs the float teacher (SnapshotTeacher) to run first");
  const Tensor all = ctx.loader().load(0, ctx.images.size(), nullptr);
  Progress timer("finetune", 1);
  nlohmann::json report = train::finetune(ctx.graph, *ctx.teacher, all, *ctx.cfg.finetune);
  report["seconds"] = timer.elapsedSeconds();
  report["images"] = ctx.images.size();
  ctx.report["finetune"] = report;
}

}  // namespace lowbit
