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
