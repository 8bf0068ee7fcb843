#include "import/OnnxTensor.h"

#include <charconv>
#include <filesystem>
#include <fstream>

#include "support/Strings.h"

namespace lowbit {
namespace {

namespace fs = std::filesystem;

template <typename Dst, typename Src>
void fillFrom(Tensor &t, const Src &field) {
  auto *d = static_cast<Dst *>(t.raw());
  for (int64_t i = 0; i < t.numel(); ++i) d[i] = static_cast<Dst>(field.Get(static_cast<int>(i)));
}

// A non-negative decimal, or Error naming the key (ONNX stores offset and length as strings).
int64_t externalNumber(const std::string &key, const std::string &value, const std::string &where) {
  int64_t v = -1;
  const char *end = value.data() + value.size();
  auto [ptr, ec] = std::from_chars(value.data(), end, v);
  if (ec != std::errc() || ptr != end || v < 0)
    throw Error(cat(where, ": external data ", key, " '", value, "' is not a non-negative whole number"));
  return v;
}

// ONNX's rule: a location is relative to the model's folder and stays inside it.
fs::path externalPath(const std::string &baseDir, const std::string &location, const std::string &where) {
  const fs::path loc(location);
  if (loc.is_absolute() || loc.has_root_name() || loc.has_root_directory())
    throw Error(cat(where, ": external data location '", location,
                    "' is absolute; ONNX locations are relative to the model's folder"));
  for (const fs::path &part : loc)
    if (part == "..") throw Error(cat(where, ": external data location '", location, "' leaves the model's folder"));
  std::error_code ec;
  const fs::path base = fs::weakly_canonical(fs::path(baseDir.empty() ? "." : baseDir), ec);
  const fs::path full = fs::weakly_canonical(base / loc, ec);
  // A link inside the folder may still point out of it.
  auto b = base.begin(), f = full.begin();
  for (; b != base.end(); ++b, ++f)
    if (f == full.end() || *f != *b)
      throw Error(cat(where, ": external data location '", location, "' resolves outside the model's folder"));
  return full;
}

// The \p expectBytes of external data, checked against the file before anything is allocated.
std::string readExternal(const onnx::TensorProto &proto, const std::string &baseDir, const std::string &where,
                         int64_t expectBytes) {
  std::string location;
  int64_t offset = 0, length = -1;
  for (const auto &kv : proto.external_data()) {
    if (kv.key() == "location") location = kv.value();
    else if (kv.key() == "offset") offset = externalNumber("offset", kv.value(), where);
    else if (kv.key() == "length") length = externalNumber("length", kv.value(), where);
  }
  if (location.empty()) throw Error(cat(where, ": external data without a location"));
  if (length >= 0 && length != expectBytes)
    throw Error(cat(where, ": external data length ", length, " differs from the ", expectBytes, " bytes of its shape"));
  const fs::path p = externalPath(baseDir, location, where);
  std::error_code ec;
  if (!fs::is_regular_file(p, ec))
    throw Error(cat(where, ": external data file '", p.string(), "' is missing or not a regular file"));
  const auto size = static_cast<int64_t>(fs::file_size(p, ec));
  if (ec || offset > size || expectBytes > size - offset)
    throw Error(cat(where, ": external data file '", p.string(), "' is too short (", size, " bytes; wanted ",
                    expectBytes, " at offset ", offset, ")"));
  std::ifstream in(p, std::ios::binary);
  if (!in) throw Error(cat(where, ": external data file '", p.string(), "' cannot be opened"));
  in.seekg(offset);
  std::string bytes(static_cast<size_t>(expectBytes), '\0');
  in.read(bytes.data(), static_cast<std::streamsize>(expectBytes));
  if (in.gcount() != expectBytes)
    throw Error(cat(where, ": external data file '", p.string(), "' could not be read (", expectBytes, " bytes at offset ",
                    offset, ")"));
  return bytes;
}

// How many values the typed field of \p proto holds for type \p dt.
int64_t typedValueCount(const onnx::TensorProto &proto, DType dt) {
  switch (dt) {
    case DType::Float32: return proto.float_data_size();
    case DType::Float64: return proto.double_data_size();
    case DType::Int64: return proto.int64_data_size();
    case DType::UInt32: case DType::UInt64: return proto.uint64_data_size();
    default: return proto.int32_data_size();
  }
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
    const std::optional<int64_t> count = checkedByteSize(dims, 1);
    if (!count) throw Error(cat(where, ": shape ", shapeString(dims), " overflows 64-bit sizes"));
    if (proto.string_data_size() != *count)
      throw Error(cat(where, ": has ", proto.string_data_size(), " strings, expected ", *count,
                      " for shape ", shapeString(dims)));
    return Tensor::fromStrings(dims, {proto.string_data().begin(), proto.string_data().end()});
  }
  if (!isNumeric(dt))
    throw Error(cat(where, ": tensors of type ", dtypeName(dt), " are not supported"));
  Dims dims(proto.dims().begin(), proto.dims().end());
  for (int64_t d : dims)
    if (d < 0) throw Error(cat(where, ": negative dimension in tensor"));
  // The declared size is checked against the data present before anything is allocated: a
  // small file must not make lowbit reserve gigabytes.
  const std::optional<int64_t> declared = checkedByteSize(dims, dtypeSize(dt));
  if (!declared) throw Error(cat(where, ": shape ", shapeString(dims), " overflows 64-bit sizes"));
  const int64_t bytes = *declared, n = bytes / static_cast<int64_t>(dtypeSize(dt));
  if (proto.data_location() == onnx::TensorProto::EXTERNAL) {
    const std::string raw = readExternal(proto, baseDir, where, bytes);
    Tensor t(dt, dims);
    if (bytes) std::memcpy(t.raw(), raw.data(), static_cast<size_t>(bytes));
    return t;
  }
  if (proto.has_raw_data()) {
    if (static_cast<int64_t>(proto.raw_data().size()) != bytes)
      throw Error(cat(where, ": raw_data has ", proto.raw_data().size(), " bytes, expected ", bytes,
                      " for ", dtypeName(dt), shapeString(dims)));
    Tensor t(dt, dims);
    if (bytes) std::memcpy(t.raw(), proto.raw_data().data(), static_cast<size_t>(bytes));
    return t;
  }
  if (typedValueCount(proto, dt) != n)
    throw Error(cat(where, ": has ", typedValueCount(proto, dt), " values, expected ", n, " for shape ",
                    shapeString(dims)));
  Tensor t(dt, dims);
  switch (dt) {
    case DType::Float32: fillFrom<float>(t, proto.float_data()); break;
    case DType::Float64: fillFrom<double>(t, proto.double_data()); break;
    case DType::Int64: fillFrom<int64_t>(t, proto.int64_data()); break;
    case DType::Int32: fillFrom<int32_t>(t, proto.int32_data()); break;
    case DType::Int16: fillFrom<int16_t>(t, proto.int32_data()); break;
    case DType::Int8: fillFrom<int8_t>(t, proto.int32_data()); break;
    case DType::UInt8: case DType::Bool:
      fillFrom<uint8_t>(t, proto.int32_data()); break;
    case DType::UInt16: case DType::Float16: case DType::BFloat16:
      fillFrom<uint16_t>(t, proto.int32_data()); break;
    case DType::UInt32: fillFrom<uint32_t>(t, proto.uint64_data()); break;
    case DType::UInt64: fillFrom<uint64_t>(t, proto.uint64_data()); break;
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
