#include "ops/UnaryMath.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "support/Error.h"
#include "support/Strings.h"

namespace lowbit {
namespace {

UnaryParams none(const Node &) { return {}; }
UnaryParams alphaOf(const Node &n, float def) { return {n.attrFloat("alpha", def), 0.f, 0.f}; }
// Pow as a one-input op: its exponent (alpha) a constant with one element.
UnaryParams exponentOf(const Node &n) {
  const Value *e = n.inputs().size() > 1 ? n.input(1) : nullptr;
  if (!e || !e->isConstant() || e->constant()->numel() != 1)
    throw Error(cat(n.describe(), ": the exponent must be a constant with one element here"));
  return {e->constant()->toFloats().at(0), 0.f, 0.f};
}

float sigmoid(float x) { return 1.f / (1.f + std::exp(-x)); }
// log(1 + e^x) without overflow for large x.
float softplus(float x) { return x > 0.f ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x)); }

// ONNX Selu defaults (the self-normalising constants).
constexpr float kSeluAlpha = 1.67326319217681884765625f, kSeluGamma = 1.05070102214813232421875f;

const std::vector<UnaryMath> &table() {
  static const std::vector<UnaryMath> t = {
      {"Abs", [](float x, const UnaryParams &) { return std::fabs(x); },
       [](float x, float, const UnaryParams &) { return x > 0.f ? 1.f : x < 0.f ? -1.f : 0.f; }, none},
      {"Elu", [](float x, const UnaryParams &p) { return x > 0.f ? x : p.alpha * std::expm1(x); },
       [](float x, float y, const UnaryParams &p) { return x > 0.f ? 1.f : y + p.alpha; },
       [](const Node &n) { return alphaOf(n, 1.f); }},
      {"Erf", [](float x, const UnaryParams &) { return std::erf(x); },
       [](float x, float, const UnaryParams &) { return 1.1283791670955126f * std::exp(-x * x); }, none},
      {"Exp", [](float x, const UnaryParams &) { return std::exp(x); },
       [](float, float y, const UnaryParams &) { return y; }, none},
      // max(0, min(1, alpha x + beta))
      {"HardSigmoid", [](float x, const UnaryParams &p) { return std::max(0.f, std::min(1.f, p.alpha * x + p.beta)); },
       [](float x, float, const UnaryParams &p) {
         const float lin = p.alpha * x + p.beta;
         return lin > 0.f && lin < 1.f ? p.alpha : 0.f;
       },
       [](const Node &n) { return UnaryParams{n.attrFloat("alpha", 0.2f), n.attrFloat("beta", 0.5f), 0.f}; }},
      // x * HardSigmoid(x) at alpha 1/6, beta 1/2
      {"HardSwish", [](float x, const UnaryParams &) { return x * std::max(0.f, std::min(1.f, x / 6.f + 0.5f)); },
       [](float x, float, const UnaryParams &) { return x < -3.f ? 0.f : x > 3.f ? 1.f : x / 3.f + 0.5f; }, none},
      {"LeakyRelu", [](float x, const UnaryParams &p) { return x >= 0.f ? x : p.alpha * x; },
       [](float x, float, const UnaryParams &p) { return x >= 0.f ? 1.f : p.alpha; },
       [](const Node &n) { return alphaOf(n, 0.01f); }},
      {"Log", [](float x, const UnaryParams &) { return std::log(x); },
       [](float x, float, const UnaryParams &) { return 1.f / x; }, none},
      {"Neg", [](float x, const UnaryParams &) { return -x; }, [](float, float, const UnaryParams &) { return -1.f; }, none},
      {"Pow", [](float x, const UnaryParams &p) { return std::pow(x, p.alpha); },
       [](float x, float, const UnaryParams &p) { return p.alpha * std::pow(x, p.alpha - 1.f); }, exponentOf},
      {"Reciprocal", [](float x, const UnaryParams &) { return 1.f / x; },
       [](float, float y, const UnaryParams &) { return -y * y; }, none},
      {"Selu", [](float x, const UnaryParams &p) { return p.gamma * (x > 0.f ? x : p.alpha * std::expm1(x)); },
       [](float x, float, const UnaryParams &p) { return p.gamma * (x > 0.f ? 1.f : p.alpha * std::exp(x)); },
       [](const Node &n) { return UnaryParams{n.attrFloat("alpha", kSeluAlpha), 0.f, n.attrFloat("gamma", kSeluGamma)}; }},
      {"Sigmoid", [](float x, const UnaryParams &) { return sigmoid(x); },
       [](float, float y, const UnaryParams &) { return y * (1.f - y); }, none},
      {"Softplus", [](float x, const UnaryParams &) { return softplus(x); },
       [](float x, float, const UnaryParams &) { return sigmoid(x); }, none},
      {"Sqrt", [](float x, const UnaryParams &) { return std::sqrt(x); },
       [](float, float y, const UnaryParams &) { return 0.5f / y; }, none},
      {"Tanh", [](float x, const UnaryParams &) { return std::tanh(x); },
       [](float, float y, const UnaryParams &) { return 1.f - y * y; }, none},
  };
  return t;
}

}  // namespace

const UnaryMath *findUnaryMath(const std::string &opType) {
  for (const UnaryMath &u : table())
    if (opType == u.opType) return &u;
  return nullptr;
}

}  // namespace lowbit
