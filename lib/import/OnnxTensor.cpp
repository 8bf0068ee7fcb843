#include "import/OnnxTensor.h"

#include <filesystem>
#include <fstream>

#include "support/Strings.h"

namespace lowbit {
namespace {

template <typename Dst, typename Src>
void fillFrom(Tensor &t, const Src &field) {
  auto *d = static_cast<Dst *>(t.raw());
  for (int64_t i = 0; i < t.numel(); ++i) d[i] = static_cast<Dst>(field.Get(static_cast<int>(i)));
}

std::string readExternal(const onnx::TensorProto &proto, const std::string &baseDir,
                         const std::string &where, size_t expectBytes) {
  std::string location;
  int64_t offset = 0, length = -1;
  for (const auto &kv : proto.external_data()) {
    if (kv.key() == "location") location = kv.value();
    else if (kv.key() == "offset") offset = std::stoll(kv.value());
    else if (kv.key() == "length") length = std::stoll(kv.value());
  }
  if (location.empty()) throw Error(cat(where, ": external data without a location"));
  std::filesystem::path p = std::filesystem::path(baseDir) / location;
  std::ifstream in(p, std::ios::binary);
  if (!in) throw Error(cat(where, ": external data file '", p.string(), "' cannot be opened"));
  in.seekg(offset);
  size_t n = length >= 0 ? static_cast<size_t>(length) : expectBytes;
  std::string bytes(n, '\0');
  in.read(bytes.data(), static_cast<std::streamsize>(n));
  if (static_cast<size_t>(in.gcount()) != n)
    throw Error(cat(where, ": external data file '", p.string(), "' is too short (wanted ", n,
                    " bytes at offset ", offset, ")"));
  return bytes;
}

}  // namespace

Tensor tensorFromProto(const onnx::TensorProto &proto, const std::string &baseDir,
                       const std::string &where) {
  DType dt = static_cast<DType>(proto.data_type());
  if (dt == DType::String) {
    if (proto.data_location() == onnx::TensorProto::EXTERNAL || proto.has_raw_data())
      throw Error(cat(where, ": STRING tensors keep their values in string_data"));
    Dims dims(proto.dims().begin(), proto.dims().end());
    for (int64_t d : dims)
      if (d < 0) throw Error(cat(where, ": negative dimension in tensor"));
    if (proto.string_data_size() != numElements(dims))
      throw Error(cat(where, ": has ", proto.string_data_size(), " strings, expected ", numElements(dims),
                      " for shape ", shapeString(dims)));
    return Tensor::fromStrings(dims, {proto.string_data().begin(), proto.string_data().end()});
  }
  if (!isNumeric(dt))
    throw Error(cat(where, ": tensors of type ", dtypeName(dt), " are not supported"));
  Dims dims(proto.dims().begin(), proto.dims().end());
  for (int64_t d : dims)
    if (d < 0) throw Error(cat(where, ": negative dimension in tensor"));
  Tensor t(dt, dims);
  const size_t bytes = t.byteSize();
  const int64_t n = t.numel();
  if (proto.data_location() == onnx::TensorProto::EXTERNAL) {
    std::string raw = readExternal(proto, baseDir, where, bytes);
    if (raw.size() != bytes)
      throw Error(cat(where, ": external data has ", raw.size(), " bytes, expected ", bytes));
    std::memcpy(t.raw(), raw.data(), bytes);
    return t;
  }
  if (proto.has_raw_data()) {
    if (proto.raw_data().size() != bytes)
      throw Error(cat(where, ": raw_data has ", proto.raw_data().size(), " bytes, expected ", bytes,
                      " for ", dtypeName(dt), shapeString(dims)));
    if (bytes) std::memcpy(t.raw(), proto.raw_data().data(), bytes);
    return t;
  }
  auto needCount = [&](int count) {
    if (count != n)
      throw Error(cat(where, ": has ", count, " values, expected ", n, " for shape ", shapeString(dims)));
  };
  switch (dt) {
    case DType::Float32: needCount(proto.float_data_size()); fillFrom<float>(t, proto.float_data()); break;
    case DType::Float64: needCount(proto.double_data_size()); fillFrom<double>(t, proto.double_data()); break;
    case DType::Int64: needCount(proto.int64_data_size()); fillFrom<int64_t>(t, proto.int64_data()); break;
    case DType::Int32: needCount(proto.int32_data_size()); fillFrom<int32_t>(t, proto.int32_data()); break;
    case DType::Int16: needCount(proto.int32_data_size()); fillFrom<int16_t>(t, proto.int32_data()); break;
    case DType::Int8: needCount(proto.int32_data_size()); fillFrom<int8_t>(t, proto.int32_data()); break;
    case DType::UInt8: case DType::Bool:
      needCount(proto.int32_data_size()); fillFrom<uint8_t>(t, proto.int32_data()); break;
    case DType::UInt16: case DType::Float16: case DType::BFloat16:
      needCount(proto.int32_data_size()); fillFrom<uint16_t>(t, proto.int32_data()); break;
    case DType::UInt32: needCount(proto.uint64_data_size()); fillFrom<uint32_t>(t, proto.uint64_data()); break;
    case DType::UInt64: needCount(proto.uint64_data_size()); fillFrom<uint64_t>(t, proto.uint64_data()); break;
    default: throw Error(cat(where, ": unsupported tensor type ", dtypeName(dt)));
  }
  return t;
}

void tensorToProto(const Tensor &t, const std::string &name, onnx::TensorProto *proto) {
  proto->set_name(name);
  proto->set_data_type(static_cast<int32_t>(t.dtype()));
  for (int64_t d : t.dims()) proto->add_dims(d);
  if (t.dtype() == DType::String) {
    for (const std::string &v : t.strings()) proto->add_string_data(v);
    return;
  }
  proto->set_raw_data(t.raw(), t.byteSize());
}

}  // namespace lowbit
