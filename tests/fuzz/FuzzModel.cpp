// ONNX bytes -> import (with its checks on declared sizes, external data, opsets) -> verify ->
// float preparation (folding, shape inference) -> plan and run on the float runner.
// Seeds: models/*.onnx and tests/data/**/*.onnx. External data resolves against a folder that
// does not exist, so a location can only fail.
#include "FuzzSupport.h"
#include "import/OnnxImporter.h"
#include "ir/Verifier.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  using namespace lowbit;
  fuzz::refusesWithError([&] {
    std::unique_ptr<Graph> g = importOnnxBytes(fuzz::bytesOf(data, size), "fuzz.onnx", "/nonexistent-lowbit-fuzz");
    verifyGraph(*g);
    fuzz::prepareAndRun(*g, /*integer=*/false);
  });
  return 0;
}
