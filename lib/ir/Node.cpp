#include "ir/Node.h"

namespace lowbit {

std::string Node::describe() const { return cat("node '", name_, "' (", opType_, ")"); }

const Attribute &Node::attrOfKind(const std::string &n, Attribute::Kind k) const {
  const Attribute &a = attrs_.at(n);
  if (a.kind != k) throw Error(cat(describe(), ": attribute '", n, "' has the wrong type"));
  return a;
}

int64_t Node::attrInt(const std::string &n, int64_t dflt) const {
  return hasAttr(n) ? attrOfKind(n, Attribute::Kind::Int).i : dflt;
}
float Node::attrFloat(const std::string &n, float dflt) const {
  return hasAttr(n) ? attrOfKind(n, Attribute::Kind::Float).f : dflt;
}
std::string Node::attrString(const std::string &n, const std::string &dflt) const {
  return hasAttr(n) ? attrOfKind(n, Attribute::Kind::String).s : dflt;
}
std::vector<int64_t> Node::attrInts(const std::string &n, std::vector<int64_t> dflt) const {
  return hasAttr(n) ? attrOfKind(n, Attribute::Kind::Ints).ints : dflt;
}
std::vector<float> Node::attrFloats(const std::string &n, std::vector<float> dflt) const {
  return hasAttr(n) ? attrOfKind(n, Attribute::Kind::Floats).floats : dflt;
}

}  // namespace lowbit
