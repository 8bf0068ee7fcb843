#include "passes/ConvChains.h"

namespace lowbit {

bool isPlainOrDepthwiseConv(const Node &n) {
  if (n.opType() != "Conv" || !n.input(1) || !n.input(1)->isConstant()) return false;
  const int64_t group = n.attrInt("group", 1);
  const Dims &w = n.input(1)->dims();
  return group == 1 || (w[1] == 1 && w[0] == group);
}

namespace {

// The single reader of \p v, unless v is a graph output or has several readers.
Node *onlyReader(const Graph &g, const Value *v) {
  if (g.isGraphOutput(v)) return nullptr;
  std::vector<Node *> readers = g.users(v);
  return readers.size() == 1 ? readers[0] : nullptr;
}

}  // namespace

std::vector<ConvChain> findConvChains(const Graph &g) {
  std::vector<ConvChain> chains;
  for (Node *a : g.nodes()) {
    if (!isPlainOrDepthwiseConv(*a)) continue;
    Node *next = onlyReader(g, a->output(0));
    Node *relu = nullptr;
    if (next && next->opType() == "Relu") {
      relu = next;
      next = onlyReader(g, relu->output(0));
    }
    if (next && isPlainOrDepthwiseConv(*next) && next->input(0) == (relu ? relu : a)->output(0))
      chains.push_back({a, relu, next});
  }
  return chains;
}

}  // namespace lowbit
