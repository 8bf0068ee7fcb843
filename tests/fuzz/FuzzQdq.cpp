// QDQ ONNX bytes (lowbit's exports, ONNX Runtime-style files) -> import -> preparation ->
// lowering to integer arithmetic (LowerToInteger: code types, scales, zero points, per-channel
// axes) -> plan and run on the int8 runner with static and with dynamic activation scales.
// Seeds: the QDQ exports scripts/fuzz.sh makes of the small test models.
#include "FuzzSupport.h"
#include "import/OnnxImporter.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  using namespace lowbit;
  fuzz::refusesWithError([&] {
    std::unique_ptr<Graph> g = importOnnxBytes(fuzz::bytesOf(data, size), "fuzz.onnx", "/nonexistent-lowbit-fuzz");
    fuzz::prepareAndRun(*g, /*integer=*/true);
  });
  return 0;
}
