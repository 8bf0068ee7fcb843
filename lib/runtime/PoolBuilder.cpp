// MaxPool, AveragePool and GlobalAveragePool on oneDNN pooling with dilations (ceil_mode via
// extra end padding, count_include_pad), reading the input in its current layout.
#include "dnnl/DnnlApi.h"
#include "kernels/MaxPoolIndices.h"
#include "ops/OpParams.h"
#include "runtime/NodeBuilders.h"

namespace lowbit {
namespace {

// oneDNN's pooling workspace is its own format, not ONNX's flattened input offsets: the
// Indices output comes from the reference kernel on the plain input.
void buildMaxPoolIndices(PlanBuilder &b, const Node &n, const WindowGeometry &geo) {
  const Value *x = n.input(0);
  if (x->dtype() != DType::Float32)
    throw Error(cat(n.describe(), ": the Indices output is computed for float32 input only, got ",
                    dtypeName(x->dtype())));
  const Dims &xd = x->dims();
  PoolWindow w{Dims(xd.begin() + 2, xd.end()), geo.outSpatial, geo.kernel, geo.strides, geo.dilations,
               geo.padsBegin};
  const int64_t outer = xd[0] * xd[1];
  const float *src = static_cast<const float *>(b.plainMemoryOf(x).get_data_handle());
  dnnl::memory out = b.newByteBuffer(static_cast<size_t>(numElements(n.output(1)->dims())) * sizeof(int64_t));
  b.define(n.output(1), out);
  int64_t *indices = static_cast<int64_t *>(out.get_data_handle());
  const bool columnMajor = n.attrInt("storage_order", 0) != 0;
  b.addFunction(n, [=] { maxPoolIndices(src, outer, w, columnMajor, indices); });
}

}  // namespace

void buildPool(PlanBuilder &b, const Node &n) {
  const Value *x = n.input(0);
  const Dims &xd = x->dims();
  Dims spatial(xd.begin() + 2, xd.end());
  dnnl::algorithm alg;
  WindowGeometry geo;
  if (n.opType() == "GlobalAveragePool") {
    alg = dnnl::algorithm::pooling_avg_exclude_padding;
    geo.kernel = spatial;
    geo.strides = Dims(spatial.size(), 1);
    geo.dilations = Dims(spatial.size(), 1);
    geo.padsBegin = geo.padsEnd = Dims(spatial.size(), 0);
  } else {
    geo = windowGeometry(n, spatial, n.attrInts("kernel_shape"), n.attrInt("ceil_mode", 0) != 0);
    if (n.opType() == "MaxPool")
      alg = dnnl::algorithm::pooling_max;
    else
      alg = n.attrInt("count_include_pad", 0) ? dnnl::algorithm::pooling_avg_include_padding
                                              : dnnl::algorithm::pooling_avg_exclude_padding;
  }
  Dims dil = geo.dilations;
  for (int64_t &d : dil) d -= 1;
  if (x->dtype() != DType::Float32 && x->dtype() != DType::UInt8 && x->dtype() != DType::Int8)
    throw Error(cat(n.describe(), ": pools float32, uint8 or int8 data, got ", dtypeName(x->dtype())));
  dnnl::memory src = b.memoryOf(x);
  // oneDNN's int8 pooling kernels take channels-last codes (blocked ones go to a slow
  // reference implementation): reorder the bytes first.
  if (src.get_desc().data_type() != dnnl::memory::data_type::f32 && xd.size() == 4)
    src = b.memoryIn(x, dnnl::memory::desc(xd, src.get_desc().data_type(), dnnl::memory::format_tag::nhwc));
  const Dims &yd = n.output(0)->dims();
  dnnlapi::PoolingForward::primitive_desc pd;
  try {
    pd = dnnlapi::poolingForward(
        b.engine(), dnnl::prop_kind::forward_inference, alg, src.get_desc(),
        // Max pooling of codes keeps their type; averages are float.
        dnnl::memory::desc(yd, n.opType() == "MaxPool" ? src.get_desc().data_type() : dnnl::memory::data_type::f32,
                           dnnl::memory::format_tag::any),
        geo.strides, geo.kernel, dil, geo.padsBegin, geo.padsEnd);
  } catch (const dnnl::error &e) {
    throw Error(cat(n.describe(), ": oneDNN has no pooling for this configuration (", e.what(), ")"));
  }
  dnnl::memory dst = b.newMemory(pd.dst_desc());
  b.addPrimitive(n, dnnlapi::PoolingForward(pd), {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}});
  b.define(n.output(0), dst);
  if (n.opType() == "MaxPool" && n.outputs().size() > 1 && n.output(1)) buildMaxPoolIndices(b, n, geo);
}

}  // namespace lowbit
