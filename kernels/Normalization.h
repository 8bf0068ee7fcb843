// Reference kernels of the normalisations oneDNN also computes: ONNX LRN (its window,
// asymmetric for even sizes, which oneDNN's centred one is not) and the per-row statistics
// of LayerNormalization / InstanceNormalization, with their gradients. The training engine
// runs these; the runner runs them where oneDNN has no match.
#pragma once

#include <cstdint>

namespace lowbit {

struct LrnParams {
  int64_t size = 1;
  float alpha = 1e-4f, beta = 0.75f, bias = 1.f;
};

/// y = x / (bias + alpha / size * sum of x^2 over channels [c - (size-1)/2, c + ceil((size-1)/2)])^beta
/// over x plain [outer, channels, inner].
void lrnForward(const float *x, int64_t outer, int64_t channels, int64_t inner, const LrnParams &p, float *y);
/// dx += dL/dx given dy.
void lrnBackward(const float *x, const float *dy, int64_t outer, int64_t channels, int64_t inner, const LrnParams &p,
                 float *dx);

/// Each of \p rows rows of \p len elements normalised: y = (x - mean) * invStd, invStd = 1 /
/// sqrt(var + eps) (population variance). \p mean and \p invStd (\p rows each) receive the
/// statistics.
void normalizeRows(const float *x, int64_t rows, int64_t len, float eps, float *y, float *mean, float *invStd);
/// The gradient through normalizeRows: given xhat (its y) and dL/dxhat, dx += invStd * (g -
/// mean(g) - xhat * mean(g * xhat)) per row.
void normalizeRowsBackward(const float *xhat, const float *dxhat, const float *invStd, int64_t rows, int64_t len,
                           float *dx);

}  // namespace lowbit
