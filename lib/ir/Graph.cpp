#include "ir/Graph.h"

#include <algorithm>
#include <numeric>
#include <tuple>
#include <unordered_map>
#include <unordered_set>

namespace lowbit {

Value *Graph::addValue(const std::string &name) {
  LOWBIT_CHECK(!valueByName_.count(name), "duplicate value name " + name);
  values_.push_back(std::make_unique<Value>(name));
  Value *v = values_.back().get();
  valueByName_[name] = v;
  return v;
}

Value *Graph::addConstant(const std::string &name, Tensor t) {
  Value *v = addValue(name);
  v->setConstant(std::make_shared<const Tensor>(std::move(t)));
  return v;
}

Value *Graph::findValue(const std::string &name) const {
  auto it = valueByName_.find(name);
  return it == valueByName_.end() ? nullptr : it->second;
}

std::string Graph::uniqueName(const std::string &base) const {
  if (!valueByName_.count(base) && !findNode(base)) return base;
  for (int i = 1;; ++i) {
    std::string n = cat(base, "_", i);
    if (!valueByName_.count(n) && !findNode(n)) return n;
  }
}

void Graph::renameValue(Value *v, const std::string &newName) {
  LOWBIT_CHECK(!valueByName_.count(newName), "rename to an existing name " + newName);
  valueByName_.erase(v->name());
  v->setName(newName);
  valueByName_[newName] = v;
}

std::vector<Value *> Graph::values() const {
  std::vector<Value *> out;
  for (const auto &v : values_) out.push_back(v.get());
  return out;
}

Node *Graph::addNode(const std::string &name, const std::string &opType,
                     std::vector<Value *> inputs, std::vector<Value *> outputs,
                     const std::string &domain) {
  nodes_.push_back(std::make_unique<Node>(name, opType, domain));
  Node *n = nodes_.back().get();
  n->inputs() = std::move(inputs);
  n->outputs() = std::move(outputs);
  for (Value *o : n->outputs())
    if (o) o->setProducer(n);
  return n;
}

Node *Graph::insertNodeBefore(Node *pos, const std::string &name, const std::string &opType,
                              std::vector<Value *> inputs, std::vector<Value *> outputs) {
  return insertNode(pos, false, name, opType, std::move(inputs), std::move(outputs));
}

Node *Graph::insertNodeAfter(Node *pos, const std::string &name, const std::string &opType,
                             std::vector<Value *> inputs, std::vector<Value *> outputs) {
  return insertNode(pos, true, name, opType, std::move(inputs), std::move(outputs));
}

Node *Graph::insertNode(Node *pos, bool after, const std::string &name, const std::string &opType,
                        std::vector<Value *> inputs, std::vector<Value *> outputs) {
  Node *n = addNode(name, opType, std::move(inputs), std::move(outputs));
  auto owned = std::move(nodes_.back());
  nodes_.pop_back();
  auto it = std::find_if(nodes_.begin(), nodes_.end(),
                         [&](const std::unique_ptr<Node> &p) { return p.get() == pos; });
  if (after && it != nodes_.end()) ++it;
  nodes_.insert(it, std::move(owned));
  return n;
}

void Graph::replaceByConstants(Node *n, std::vector<Tensor> values) {
  for (size_t i = 0; i < n->outputs().size() && i < values.size(); ++i) {
    Value *o = n->output(i);
    if (!o) continue;
    o->setProducer(nullptr);
    o->setConstant(std::make_shared<const Tensor>(std::move(values[i])));
  }
  eraseNode(n);
}

void Graph::eraseNode(Node *n) {
  for (Value *o : n->outputs())
    if (o && o->producer() == n) o->setProducer(nullptr);
  for (const auto &other : nodes_) {
    if (other->fusedActivation == n) other->fusedActivation = nullptr;
    if (other->fusedAdd == n) other->fusedAdd = nullptr;
    if (other->fusedInto == n) other->fusedInto = nullptr;
  }
  nodes_.erase(std::remove_if(nodes_.begin(), nodes_.end(),
                              [&](const std::unique_ptr<Node> &p) { return p.get() == n; }),
               nodes_.end());
}

std::vector<Node *> Graph::nodes() const {
  std::vector<Node *> out;
  out.reserve(nodes_.size());
  for (const auto &n : nodes_) out.push_back(n.get());
  return out;
}

Node *Graph::findNode(const std::string &name) const {
  for (const auto &n : nodes_)
    if (n->name() == name) return n.get();
  return nullptr;
}

std::vector<Node *> Graph::users(const Value *v) const {
  std::vector<Node *> out;
  for (const auto &n : nodes_)
    if (std::find(n->inputs().begin(), n->inputs().end(), v) != n->inputs().end())
      out.push_back(n.get());
  return out;
}

bool Graph::isGraphInput(const Value *v) const {
  return std::find(inputs_.begin(), inputs_.end(), v) != inputs_.end();
}
bool Graph::isGraphOutput(const Value *v) const {
  return std::find(outputs_.begin(), outputs_.end(), v) != outputs_.end();
}

bool Graph::canReplace(const Value *from, const Value *to) const {
  if (!isGraphOutput(from)) return true;
  // `to` would have to be renamed to the output's name: impossible if it is itself part of
  // the interface or shared constant data.
  return !isGraphInput(to) && !isGraphOutput(to) && !to->isConstant();
}

void Graph::replaceAllUsesWith(Value *from, Value *to) {
  for (const auto &n : nodes_)
    for (Value *&in : n->inputs())
      if (in == from) in = to;
  if (isGraphOutput(from)) {
    LOWBIT_CHECK(canReplace(from, to), "replaceAllUsesWith would rename the interface");
    for (Value *&o : outputs_)
      if (o == from) o = to;
    std::string outName = from->name();
    renameValue(from, uniqueName(outName + "_replaced"));
    renameValue(to, outName);
    to->setDimNames(from->dimNames());
  }
}

size_t Graph::removeDeadCode() {
  size_t removed = 0;
  std::unordered_set<const Value *> live(outputs_.begin(), outputs_.end());
  // Walk backwards: a node is live if any output is live.
  std::vector<Node *> order = nodes();
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    Node *n = *it;
    bool used = std::any_of(n->outputs().begin(), n->outputs().end(),
                            [&](Value *o) { return o && live.count(o); });
    if (!used) {
      eraseNode(n);
      ++removed;
      continue;
    }
    for (Value *in : n->inputs())
      if (in) live.insert(in);
  }
  for (Value *in : inputs_) live.insert(in);
  for (const auto &n : nodes_)
    for (Value *o : n->outputs())
      if (o) live.insert(o);
  std::vector<std::unique_ptr<Value>> kept;
  for (auto &v : values_) {
    if (live.count(v.get()))
      kept.push_back(std::move(v));
    else
      valueByName_.erase(v->name());
  }
  values_ = std::move(kept);
  return removed;
}

void Graph::topoSort() {
  // The order of repeated sweeps over the list (each sweep emits, in list order, every node
  // whose inputs are computed, including by nodes earlier in the same sweep), computed in
  // O(E + N log N): a node's sweep is its latest producer's, or one more where that producer
  // is listed after it. Sorted graphs keep their order; an unsorted one (hostile or not) costs
  // no sweep per node.
  const size_t n = nodes_.size();
  std::unordered_map<const Node *, size_t> index;
  for (size_t i = 0; i < n; ++i) index.emplace(nodes_[i].get(), i);
  std::vector<size_t> waiting(n, 0);                               // inputs not yet computed
  std::unordered_map<const Value *, std::vector<size_t>> readers;  // per input occurrence
  for (size_t i = 0; i < n; ++i)
    for (Value *in : nodes_[i]->inputs())
      if (in && in->producer() && index.count(in->producer())) {
        ++waiting[i];
        readers[in].push_back(i);
      }
  std::vector<size_t> ready, sweep(n, 0);
  for (size_t i = 0; i < n; ++i)
    if (waiting[i] == 0) ready.push_back(i);
  size_t emitted = 0;
  while (!ready.empty()) {  // Kahn's algorithm, carrying each node's sweep to its readers
    const size_t i = ready.back();
    ready.pop_back();
    ++emitted;
    for (Value *o : nodes_[i]->outputs()) {
      auto it = o ? readers.find(o) : readers.end();
      if (it == readers.end()) continue;
      for (size_t r : it->second) {
        sweep[r] = std::max(sweep[r], sweep[i] + (i > r ? 1 : 0));
        if (--waiting[r] == 0) ready.push_back(r);
      }
    }
  }
  if (emitted != n) {
    size_t stuck = n;
    for (size_t i = 0; i < n && stuck == n; ++i)
      if (waiting[i] > 0) stuck = i;
    throw Error(cat("graph has a cycle or an undefined input at ", nodes_[stuck]->describe()));
  }
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), size_t{0});
  std::sort(order.begin(), order.end(), [&](size_t x, size_t y) { return std::tie(sweep[x], x) < std::tie(sweep[y], y); });
  std::vector<std::unique_ptr<Node>> sorted;
  sorted.reserve(n);
  for (size_t i : order) sorted.push_back(std::move(nodes_[i]));
  nodes_ = std::move(sorted);
}

std::unique_ptr<Graph> Graph::clone() const {
  auto g = std::make_unique<Graph>();
  g->graphName = graphName;
  g->opset = opset;
  g->otherOpsets = otherOpsets;
  g->irVersion = irVersion;
  g->producerName = producerName;
  g->producerVersion = producerVersion;
  g->docString = docString;
  g->metadata = metadata;
  g->channelsLastInputs = channelsLastInputs;
  g->widenedHalfFloats = widenedHalfFloats;
  std::unordered_map<const Value *, Value *> vmap;
  for (const auto &v : values_) {
    Value *c = g->addValue(v->name());
    c->setDType(v->dtype());
    if (v->hasShape()) c->setShape(v->dims());
    c->setDimNames(v->dimNames());
    if (v->constant()) c->setConstant(v->constant());
    c->quant = v->quant;
    c->codes = v->codes;
    c->container = v->container;
    vmap[v.get()] = c;
  }
  auto mapValue = [&](Value *v) { return v ? vmap.at(v) : nullptr; };
  std::unordered_map<const Node *, Node *> nmap;
  for (const auto &n : nodes_) {
    std::vector<Value *> ins, outs;
    for (Value *v : n->inputs()) ins.push_back(mapValue(v));
    for (Value *v : n->outputs()) outs.push_back(mapValue(v));
    Node *c = g->addNode(n->name(), n->opType(), ins, outs, n->domain());
    c->attrs() = n->attrs();
    nmap[n.get()] = c;
  }
  for (const auto &n : nodes_) {
    if (n->fusedActivation) nmap[n.get()]->fusedActivation = nmap.at(n->fusedActivation);
    if (n->fusedAdd) nmap[n.get()]->fusedAdd = nmap.at(n->fusedAdd);
    if (n->fusedInto) nmap[n.get()]->fusedInto = nmap.at(n->fusedInto);
  }
  for (Value *v : inputs_) g->inputs_.push_back(vmap.at(v));
  for (Value *v : outputs_) g->outputs_.push_back(vmap.at(v));
  return g;
}

}  // namespace lowbit
