#include "TestUtil.h"
#include "ops/ShapeInference.h"

using namespace lowbit;
using namespace lowbit::test;

TEST_CASE("Conv output shape follows pads, strides, dilations and auto_pad", "[ops]") {
  Graph g;
  Value *x = addInput(g, "x", {-1, 3, 32, 30});
  Value *w = g.addConstant("w", Tensor(DType::Float32, {8, 3, 3, 3}));
  Node *c = addOp(g, "Conv", {x, w}, "y");
  c->setAttr("strides", Attribute::ofInts({2, 2}));
  c->setAttr("pads", Attribute::ofInts({1, 1, 1, 1}));
  inferShapes(g);
  CHECK(c->output(0)->dims() == Dims{-1, 8, 16, 15});

  c->attrs().erase("pads");
  c->setAttr("auto_pad", Attribute::ofString("SAME_UPPER"));
  c->setAttr("dilations", Attribute::ofInts({2, 2}));
  inferShapes(g);
  CHECK(c->output(0)->dims() == Dims{-1, 8, 16, 15});
}

TEST_CASE("MaxPool ceil_mode rounds the output size up", "[ops]") {
  Graph g;
  Value *x = addInput(g, "x", {1, 1, 4, 4});
  Node *p = addOp(g, "MaxPool", {x}, "y");
  p->setAttr("kernel_shape", Attribute::ofInts({3, 3}));
  p->setAttr("strides", Attribute::ofInts({2, 2}));
  inferShapes(g);
  CHECK(p->output(0)->dims() == Dims{1, 1, 1, 1});
  p->setAttr("ceil_mode", Attribute::ofInt(1));
  inferShapes(g);
  CHECK(p->output(0)->dims() == Dims{1, 1, 2, 2});
}

TEST_CASE("Reshape resolves 0 and -1 against the input", "[ops]") {
  Graph g;
  Value *x = addInput(g, "x", {2, 3, 4});
  Value *s = g.addConstant("s", Tensor::fromVector<int64_t>({2}, {0, -1}));
  Node *r = addOp(g, "Reshape", {x, s}, "y");
  inferShapes(g);
  CHECK(r->output(0)->dims() == Dims{2, 12});
}

TEST_CASE("broadcasting incompatible shapes names the node", "[ops]") {
  Graph g;
  Value *a = addInput(g, "a", {2, 3});
  Value *b = addInput(g, "b", {4});
  addOp(g, "Add", {a, b}, "sum");
  CHECK_THROWS_WITH(inferShapes(g), Catch::Contains("sum_node") && Catch::Contains("[2,3]") &&
                                        Catch::Contains("[4]"));
}

TEST_CASE("a Conv with the wrong channel count is reported with both counts", "[ops]") {
  Graph g;
  Value *x = addInput(g, "x", {1, 4, 8, 8});
  Value *w = g.addConstant("w", Tensor(DType::Float32, {8, 3, 3, 3}));
  addOp(g, "Conv", {x, w}, "y");
  CHECK_THROWS_WITH(inferShapes(g), Catch::Contains("4 channels") && Catch::Contains("expects 3"));
}
