// Helpers shared by the unit tests: seeded random tensors, tiny graphs built in code,
// tolerance checks |a-b| <= atol + rtol*|b| that report the worst element.
#pragma once

#include <catch2/catch.hpp>

#include <array>
#include <cmath>
#include <cstdio>
#include <random>
#include <sstream>
#include <string>

#include "ir/Graph.h"
#include "runtime/Executor.h"
#include "support/Strings.h"

namespace lowbit::test {

inline Tensor randomTensor(const Dims &dims, uint32_t seed, float lo = -1.f, float hi = 1.f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(static_cast<size_t>(numElements(dims)));
  for (float &x : v) x = dist(rng);
  return Tensor::fromVector<float>(dims, v);
}

/// Adds a graph input named \p name of FLOAT \p dims.
inline Value *addInput(Graph &g, const std::string &name, const Dims &dims) {
  Value *v = g.addValue(name);
  v->setDType(DType::Float32);
  v->setShape(dims);
  g.inputs().push_back(v);
  return v;
}

/// Adds node \p op reading \p ins with one new output named \p out.
inline Node *addOp(Graph &g, const std::string &op, std::vector<Value *> ins, const std::string &out) {
  Value *o = g.addValue(out);
  return g.addNode(out + "_node", op, std::move(ins), {o});
}

/// The lowbit binary's exit code and its stdout + stderr.
struct RunResult {
  int code;
  std::string output;
};
#ifdef LOWBIT_BINARY
/// Runs `lowbit ARGS` (the build's binary) through the shell.
inline RunResult runLowbit(const std::string &args) {
  std::string cmd = std::string(LOWBIT_BINARY) + " " + args + " 2>&1";
  FILE *p = popen(cmd.c_str(), "r");
  std::string out;
  std::array<char, 4096> buf{};
  while (size_t n = fread(buf.data(), 1, buf.size(), p)) out.append(buf.data(), n);
  int status = pclose(p);
  return {WEXITSTATUS(status), out};
}
#endif

/// Number of nodes of \p op in \p g.
inline size_t countOps(const Graph &g, const std::string &op) {
  size_t n = 0;
  for (const Node *node : g.nodes()) n += node->opType() == op;
  return n;
}

/// Runs \p g on \p inputs with the float runner.
inline std::vector<Tensor> runGraph(const Graph &g, const std::vector<Tensor> &inputs) {
  Executor exec(g);
  return exec.run(inputs);
}

/// Empty when every element satisfies |got-want| <= atol + rtol*|want|; else a description.
inline std::string mismatch(const Tensor &got, const Tensor &want, float atol, float rtol) {
  if (got.dims() != want.dims())
    return cat("shape ", shapeString(got.dims()), " vs ", shapeString(want.dims()));
  std::vector<float> g = got.toFloats(), w = want.toFloats();
  size_t bad = 0, worstAt = 0;
  float worst = 0;
  for (size_t i = 0; i < g.size(); ++i) {
    float d = std::fabs(g[i] - w[i]);
    if (!(d <= atol + rtol * std::fabs(w[i]))) {
      ++bad;
      if (d > worst || std::isnan(d)) { worst = d; worstAt = i; }
    }
  }
  if (!bad) return "";
  return cat(bad, " of ", g.size(), " elements differ; worst at ", worstAt, ": got ", g[worstAt],
             " want ", w[worstAt]);
}

}  // namespace lowbit::test
