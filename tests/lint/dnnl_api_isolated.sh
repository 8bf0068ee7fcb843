#!/usr/bin/env bash
# Every oneDNN call whose form differs between 2.x and 3.x goes through lib/dnnl/DnnlApi.h:
# fails, naming the lines, when one is made anywhere else in lib/ or tools/.
#   tests/lint/dnnl_api_isolated.sh SOURCE_DIR
set -uo pipefail
cd "$1"
pattern='::desc\(|set_output_scales|set_zero_points\(|append_eltwise\(|pooling_v2|pooling_(forward|backward)\b|\.data\.(ndims|data_type|format|dims|padded|offset0)|dnnl_memory_desc_t|::primitive_desc\((desc|dnnl::[a-z_]+::desc)'
hits=$(grep -rnE "$pattern" lib tools --include=*.cpp --include=*.h | grep -v '^lib/dnnl/' | grep -v 'memory::desc(')
if [ -n "$hits" ]; then
  echo "versioned oneDNN calls outside lib/dnnl/DnnlApi.h:"
  echo "$hits"
  echo "0 passed, 1 failed"
  exit 1
fi
echo "1 passed, 0 failed"
