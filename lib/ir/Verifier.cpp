#include "ir/Verifier.h"

#include <unordered_set>

namespace lowbit {

void verifyGraph(const Graph &g) {
  std::unordered_set<const Value *> defined;
  std::unordered_set<std::string> nodeNames;
  for (Value *v : g.values())
    if (v->isConstant()) defined.insert(v);
  for (Value *v : g.inputs()) {
    if (v->isConstant()) throw Error(cat("graph input '", v->name(), "' is also a constant"));
    defined.insert(v);
  }
  for (Node *n : g.nodes()) {
    if (!nodeNames.insert(n->name()).second)
      throw Error(cat("two nodes are named '", n->name(), "'"));
    for (Value *in : n->inputs())
      if (in && !defined.count(in))
        throw Error(cat(n->describe(), ": input '", in->name(),
                        "' is not a graph input, initializer, or earlier node output"));
    for (Value *out : n->outputs()) {
      if (!out) continue;
      if (out->producer() != n || defined.count(out) || out->isConstant())
        throw Error(cat(n->describe(), ": output '", out->name(), "' is defined twice"));
      defined.insert(out);
    }
  }
  for (Value *v : g.outputs())
    if (!defined.count(v)) throw Error(cat("graph output '", v->name(), "' is never computed"));
}

}  // namespace lowbit
