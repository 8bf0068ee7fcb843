#include "runtime/HostTarget.h"

#include <oneapi/dnnl/dnnl.hpp>

namespace lowbit {

// Without VNNI, oneDNN's int8 kernels multiply u8 x s8 pairs with vpmaddubsw, whose int16 sum
// saturates once codes exceed 127: such inputs cannot run exactly.
bool fullRangeU8IsExact() {
  const dnnl::cpu_isa isa = dnnl::get_effective_cpu_isa();
  return isa == dnnl::cpu_isa::avx512_core_vnni || isa == dnnl::cpu_isa::avx512_core_bf16 ||
         isa == dnnl::cpu_isa::avx512_core_amx || isa == dnnl::cpu_isa::avx2_vnni;
}

}  // namespace lowbit
