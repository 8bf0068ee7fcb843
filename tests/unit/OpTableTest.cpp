// The op table's rows agree with each other and with what reads them.
#include "TestUtil.h"
#include "ops/OpSupport.h"
#include "ops/OpTable.h"
#include "passes/LowerToInteger.h"
#include "train/Layer.h"

using namespace lowbit;

TEST_CASE("every op of the table is supported, and its columns are consistent", "[ops]") {
  const std::vector<OpInfo> &table = opTable();
  REQUIRE(table.size() == supportedOps().size());
  for (size_t i = 0; i < table.size(); ++i) {
    const OpInfo &op = table[i];
    INFO(op.opType);
    CHECK(supportedOps()[i] == op.opType);  // sorted, one row each
    CHECK(findOp(op.opType) == &op);
    // Differentiable ops run on the float runner; ops without a runner builder are folded
    // before planning, so the reference evaluator must compute them (Constant is imported as
    // a value).
    if (op.buildLayer) CHECK(op.buildRunner != nullptr);
    if (!op.buildRunner && std::string(op.opType) != "Constant") CHECK(op.evaluates);
    CHECK((op.inferShapes != nullptr) == (std::string(op.opType) != "Constant"));
    CHECK((train::findTrainableOp(op.opType) != nullptr) == (op.buildLayer != nullptr));
    const std::vector<std::string> &integer = integerOps();
    CHECK(std::binary_search(integer.begin(), integer.end(), op.opType) == (op.int8 != Int8Role::None));
  }
  CHECK(findOp("Gelu") == nullptr);
  CHECK_FALSE(isSupportedOp("Conv", "com.microsoft"));
}
