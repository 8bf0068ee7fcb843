#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>

#include "Commands.h"
#include "jobs/BenchJob.h"
#include "support/Strings.h"

namespace lowbit {

void addBenchCommand(CLI::App &app, Action &action) {
  struct Opts {
    BenchConfig cfg;
    std::string batches = "1,64", threads, modes;
    bool json = false;
  };
  auto o = std::make_shared<Opts>();
  CLI::App *cmd = app.add_subcommand("bench", "latency and throughput: float runner vs int8 runner (static, dynamic)");
  cmd->add_option("model", o->cfg.modelPath, "float ONNX model")->required();
  cmd->add_option("--int8", o->cfg.int8Path, "quantized (QDQ) model of it, timed on the int8 runner");
  cmd->add_option("--modes", o->modes, "modes to time, e.g. float,int8_static (default: all that apply; float_direct: float with direct convolutions one layer at a time, as eval --direct-conv)");
  cmd->add_option("--batch", o->batches, "batch sizes, e.g. 1,64");
  cmd->add_option("--threads", o->threads, "thread counts, e.g. 1,2 (default: all cores)");
  cmd->add_option("--warmup", o->cfg.warmup, "untimed runs first")->check(CLI::NonNegativeNumber);
  cmd->add_option("--iters", o->cfg.iters, "timed runs")->check(CLI::PositiveNumber);
  cmd->add_option("--size", o->cfg.size, "input height and width when the model leaves them dynamic");
  cmd->add_flag("--json", o->json, "print one JSON object");
  cmd->callback([o, &action] {
    action = [o]() -> int {
      o->cfg.batches = parseIntList(o->batches, "--batch");
      if (!o->threads.empty()) o->cfg.threads = parseIntList(o->threads, "--threads");
      if (!o->modes.empty()) o->cfg.modes = split(o->modes, ',');
      std::vector<BenchRow> rows = runBench(o->cfg);
      if (o->json) {
        nlohmann::json j;
        j["model"] = o->cfg.modelPath;
        if (!o->cfg.int8Path.empty()) j["int8_model"] = o->cfg.int8Path;
        j["results"] = nlohmann::json::array();
        for (const BenchRow &r : rows)
          j["results"].push_back({{"mode", r.mode}, {"batch", r.batch}, {"threads", r.threads},
                                  {"median_ms", r.medianMs}, {"p90_ms", r.p90Ms},
                                  {"images_per_s", r.imagesPerS}});
        for (size_t i = 0; i < rows.size(); ++i)
          if (!rows[i].lowering.empty()) j["results"][i]["lowering"] = rows[i].lowering;
        std::printf("%s\n", j.dump(2).c_str());
      } else {
        std::printf("%-13s %6s %8s %12s %10s %12s\n", "mode", "batch", "threads", "median_ms", "p90_ms", "images/s");
        for (const BenchRow &r : rows)
          std::printf("%-13s %6lld %8lld %12.3f %10.3f %12.1f\n", r.mode.c_str(), static_cast<long long>(r.batch),
                      static_cast<long long>(r.threads), r.medianMs, r.p90Ms, r.imagesPerS);
        for (const BenchRow &r : rows)
          if (!r.lowering.empty()) {
            std::printf("int8 runner: %s (lowbit inspect lists each layer)\n", r.lowering.c_str());
            break;
          }
      }
      return 0;
    };
  });
}

}  // namespace lowbit
