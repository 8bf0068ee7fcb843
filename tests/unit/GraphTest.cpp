#include "TestUtil.h"
#include "ir/Verifier.h"

using namespace lowbit;
using namespace lowbit::test;

TEST_CASE("replaceAllUsesWith keeps a graph output's name", "[ir]") {
  Graph g;
  Value *x = addInput(g, "x", {1, 4});
  Node *relu = addOp(g, "Relu", {x}, "r");
  Node *id = addOp(g, "Identity", {relu->output(0)}, "y");
  g.outputs().push_back(id->output(0));
  REQUIRE(g.canReplace(id->output(0), relu->output(0)));
  g.replaceAllUsesWith(id->output(0), relu->output(0));
  g.eraseNode(id);
  g.removeDeadCode();
  CHECK(g.outputs()[0]->name() == "y");
  CHECK(g.outputs()[0]->producer() == relu);
  CHECK_NOTHROW(verifyGraph(g));
}

TEST_CASE("canReplace refuses to rename a graph input into an output", "[ir]") {
  Graph g;
  Value *x = addInput(g, "x", {2});
  Node *id = addOp(g, "Identity", {x}, "y");
  g.outputs().push_back(id->output(0));
  CHECK_FALSE(g.canReplace(id->output(0), x));
}

TEST_CASE("removeDeadCode drops unread nodes and constants", "[ir]") {
  Graph g;
  Value *x = addInput(g, "x", {2});
  Value *c = g.addConstant("unused_const", Tensor::fromVector<float>({2}, {1, 2}));
  addOp(g, "Add", {x, c}, "dead");
  Node *live = addOp(g, "Relu", {x}, "y");
  g.outputs().push_back(live->output(0));
  CHECK(g.removeDeadCode() == 1);
  CHECK(g.numNodes() == 1);
  CHECK(g.findValue("unused_const") == nullptr);
}

TEST_CASE("topoSort orders nodes and reports a cycle with a node name", "[ir]") {
  Graph g;
  Value *x = addInput(g, "x", {2});
  Value *a = g.addValue("a"), *b = g.addValue("b");
  g.addNode("second", "Relu", {a}, {b});
  g.addNode("first", "Relu", {x}, {a});
  g.outputs().push_back(b);
  g.topoSort();
  CHECK(g.nodes()[0]->name() == "first");

  Graph c;
  Value *p = c.addValue("p"), *q = c.addValue("q");
  c.addNode("n1", "Relu", {q}, {p});
  c.addNode("n2", "Relu", {p}, {q});
  c.outputs().push_back(q);
  // Values with no producer count as available, so make both produced: a true cycle.
  CHECK_THROWS_WITH(c.topoSort(), Catch::Contains("cycle") && Catch::Contains("n1"));
}

TEST_CASE("clone is deep: editing the copy leaves the original alone", "[ir]") {
  Graph g;
  Value *x = addInput(g, "x", {1, 3});
  Node *r = addOp(g, "Relu", {x}, "y");
  g.outputs().push_back(r->output(0));
  std::unique_ptr<Graph> c = g.clone();
  c->nodes()[0]->setAttr("marker", Attribute::ofInt(1));
  c->inputs()[0]->setShape({5, 3});
  CHECK_FALSE(g.nodes()[0]->hasAttr("marker"));
  CHECK(g.inputs()[0]->dims() == Dims{1, 3});
}

TEST_CASE("verifyGraph names the node that reads an undefined value", "[ir]") {
  Graph g;
  Value *ghost = g.addValue("ghost");
  Node *n = addOp(g, "Relu", {ghost}, "y");
  g.outputs().push_back(n->output(0));
  CHECK_THROWS_WITH(verifyGraph(g), Catch::Contains("y_node") && Catch::Contains("ghost"));
}

TEST_CASE("verifyGraph checks each QuantParams against its state", "[ir]") {
  Graph g;
  Value *x = addInput(g, "x", {1, 4, 3, 3});
  Value *w = g.addConstant("w", randomTensor({6, 4, 1, 1}, 1));
  Node *conv = addOp(g, "Conv", {x, w}, "y");
  g.outputs().push_back(conv->output(0));
  QuantParams p;
  p.state = QuantParams::State::Calibrated;
  p.granularity = QuantParams::Granularity::PerChannel;
  p.axis = 0;
  p.bits = 4;
  p.scale.assign(6, 0.1f);
  p.zeroPoint.assign(6, 0);
  w->quant = p;
  CHECK_NOTHROW(verifyGraph(g));
  auto rejects = [&](QuantParams bad, const char *why) {
    w->quant = bad;
    CHECK_THROWS_WITH(verifyGraph(g), Catch::Contains("'w'") && Catch::Contains(why));
    w->quant = p;
  };
  QuantParams q = p;
  q.state = QuantParams::State::Unset;
  rejects(q, "unset");
  q = p;
  q.scale[2] = 0.f;
  rejects(q, "scale 0");
  q = p;
  q.scale.pop_back();
  q.zeroPoint.pop_back();
  rejects(q, "5 scales for 6 channels");
  q = p;
  q.zeroPoint.pop_back();
  rejects(q, "6 scales and 5 zero points");
  q = p;
  q.axis = 4;
  rejects(q, "axis 4 of a rank-4");
  q = p;
  q.bits = 9;
  rejects(q, "9 bits");
  q = p;
  q.granularity = QuantParams::Granularity::PerGroup;
  q.groups = 2;
  q.groupOf = {0, 0, 0, 1, 1, 2};
  rejects(q, "group 2 of 2");
  q = QuantParams{};
  q.state = QuantParams::State::FloatOnly;
  w->quant = q;
  CHECK_NOTHROW(verifyGraph(g));  // a float-only weight has no scales
  q.scale = {1.f};
  rejects(q, "float-only");
}
