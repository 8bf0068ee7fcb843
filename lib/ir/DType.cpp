#include "ir/DType.h"

namespace lowbit {

size_t dtypeSize(DType t) {
  switch (t) {
    case DType::Float32: case DType::Int32: case DType::UInt32: return 4;
    case DType::UInt8: case DType::Int8: case DType::Bool: return 1;
    case DType::UInt16: case DType::Int16: case DType::Float16: case DType::BFloat16: return 2;
    case DType::Int64: case DType::UInt64: case DType::Float64: return 8;
    case DType::String: case DType::Undefined: return 0;
  }
  return 0;
}

std::string dtypeName(DType t) {
  switch (t) {
    case DType::Undefined: return "UNDEFINED";
    case DType::Float32: return "FLOAT";
    case DType::UInt8: return "UINT8";
    case DType::Int8: return "INT8";
    case DType::UInt16: return "UINT16";
    case DType::Int16: return "INT16";
    case DType::Int32: return "INT32";
    case DType::Int64: return "INT64";
    case DType::String: return "STRING";
    case DType::Bool: return "BOOL";
    case DType::Float16: return "FLOAT16";
    case DType::Float64: return "DOUBLE";
    case DType::UInt32: return "UINT32";
    case DType::UInt64: return "UINT64";
    case DType::BFloat16: return "BFLOAT16";
  }
  return "type#" + std::to_string(static_cast<int>(t));
}

bool isNumeric(DType t) { return t != DType::String && t != DType::Undefined && dtypeSize(t) > 0; }

}  // namespace lowbit
