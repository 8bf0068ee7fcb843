#include "ir/Verifier.h"

#include <cmath>
#include <unordered_set>

#include "support/Strings.h"

namespace lowbit {
namespace {

void verifyQuantParams(const Value &v, const QuantParams &p, const char *what) {
  auto bad = [&](const std::string &why) { return Error(cat("value '", v.name(), "': ", what, " ", why)); };
  if (p.state == QuantParams::State::Unset) throw bad("were left unset by the pass that made them");
  if (p.state == QuantParams::State::FloatOnly) {
    if (!p.scale.empty()) throw bad("of a float-only value carry scales");
    return;
  }
  if (p.bits < 2 || p.bits > 8) throw bad(cat("have ", p.bits, " bits (2..8)"));
  if (p.scale.empty() || p.scale.size() != p.zeroPoint.size())
    throw bad(cat("have ", p.scale.size(), " scales and ", p.zeroPoint.size(), " zero points"));
  for (float s : p.scale)
    if (!(s > 0.f) || !std::isfinite(s)) throw bad(cat("have scale ", s, " (must be finite and positive)"));
  if (p.granularity == QuantParams::Granularity::PerTensor) {
    if (p.scale.size() != 1) throw bad(cat("are per tensor with ", p.scale.size(), " scales"));
    return;
  }
  if (!v.hasShape()) return;
  const Dims &d = v.dims();
  if (p.axis < 0 || static_cast<size_t>(p.axis) >= d.size())
    throw bad(cat("run along axis ", p.axis, " of a rank-", d.size(), " tensor"));
  const int64_t channels = d[static_cast<size_t>(p.axis)];
  if (channels >= 0 && static_cast<int64_t>(p.scale.size()) != channels)
    throw bad(cat("have ", p.scale.size(), " scales for ", channels, " channels"));
  if (p.granularity == QuantParams::Granularity::PerGroup)
    for (int32_t g : p.groupOf)
      if (g < 0 || g >= p.groups) throw bad(cat("put a channel in group ", g, " of ", p.groups));
}

}  // namespace

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
  for (Value *v : g.values()) {
    if (v->quant) verifyQuantParams(*v, *v->quant, "quantization parameters");
    if (v->codes) {
      if (v->codes->state != QuantParams::State::Frozen)
        throw Error(cat("value '", v->name(), "': integer codes must carry frozen parameters"));
      verifyQuantParams(*v, *v->codes, "integer code parameters");
    }
  }
}

}  // namespace lowbit
