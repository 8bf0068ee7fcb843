// The graph IR: owns values and nodes, keeps nodes in a topological order.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "ir/Node.h"
#include "ir/Value.h"

namespace lowbit {

class Graph {
 public:
  Graph() = default;
  Graph(const Graph &) = delete;
  Graph &operator=(const Graph &) = delete;

  /// Deep copy of nodes and values; constant tensors are shared (they are immutable).
  std::unique_ptr<Graph> clone() const;

  // ---- values ----
  /// Creates a value named \p name; the name must be new (internal invariant).
  Value *addValue(const std::string &name);
  /// Creates a constant value holding \p t.
  Value *addConstant(const std::string &name, Tensor t);
  /// \returns the value named \p name or null.
  Value *findValue(const std::string &name) const;
  /// A name not used yet, derived from \p base.
  std::string uniqueName(const std::string &base) const;
  /// Renames \p v (the new name must be unused).
  void renameValue(Value *v, const std::string &newName);
  /// Every value, in creation order.
  std::vector<Value *> values() const;

  // ---- nodes ----
  /// Appends a node; it becomes the producer of \p outputs.
  Node *addNode(const std::string &name, const std::string &opType, std::vector<Value *> inputs,
                std::vector<Value *> outputs, const std::string &domain = "");
  /// Inserts a node just before \p pos in the node order.
  Node *insertNodeBefore(Node *pos, const std::string &name, const std::string &opType,
                         std::vector<Value *> inputs, std::vector<Value *> outputs);
  /// Inserts a node just after \p pos in the node order.
  Node *insertNodeAfter(Node *pos, const std::string &name, const std::string &opType,
                        std::vector<Value *> inputs, std::vector<Value *> outputs);
  /// Removes \p n; its outputs lose their producer.
  void eraseNode(Node *n);
  /// Removes \p n and makes its outputs the constants \p values (in output order; extra
  /// outputs without a value keep no producer).
  void replaceByConstants(Node *n, std::vector<Tensor> values);
  /// Nodes in topological order.
  std::vector<Node *> nodes() const;
  size_t numNodes() const { return nodes_.size(); }
  Node *findNode(const std::string &name) const;
  /// Nodes that read \p v, in order (a node reading it twice appears once).
  std::vector<Node *> users(const Value *v) const;
  /// Re-sorts nodes topologically (stable for already sorted graphs). Throws on a cycle.
  void topoSort();

  // ---- inputs / outputs ----
  std::vector<Value *> &inputs() { return inputs_; }
  const std::vector<Value *> &inputs() const { return inputs_; }
  std::vector<Value *> &outputs() { return outputs_; }
  const std::vector<Value *> &outputs() const { return outputs_; }
  bool isGraphInput(const Value *v) const;
  bool isGraphOutput(const Value *v) const;

  /// Makes every reader of \p from (nodes and graph outputs) read \p to instead. If \p from is
  /// a graph output, \p to takes over its name so the model's interface is unchanged; callers
  /// check canReplace() first.
  void replaceAllUsesWith(Value *from, Value *to);
  /// False when replacing \p from by \p to would rename a graph input or output.
  bool canReplace(const Value *from, const Value *to) const;
  /// Drops nodes whose outputs nobody reads and values nobody references.
  /// \returns the number of nodes removed.
  size_t removeDeadCode();

  // ---- model-level facts kept for export ----
  std::string graphName = "lowbit";
  int64_t opset = 13;                         ///< default ("ai.onnx") domain opset
  std::map<std::string, int64_t> otherOpsets; ///< other domains, e.g. "com.microsoft"
  int64_t irVersion = 8;
  std::string producerName, producerVersion, docString;
  std::vector<std::pair<std::string, std::string>> metadata;  ///< ONNX metadata_props
  /// Inputs the file stores as [N, H, W, C] that the graph reads as [N, C, H, W]
  /// (ChannelsFirstInputs); the exporter writes them back as the file had them.
  std::vector<std::string> channelsLastInputs;
  /// The file computes in float16 or bfloat16; the graph in float32 (WidenHalfFloats).
  bool widenedHalfFloats = false;

 private:
  Node *insertNode(Node *pos, bool after, const std::string &name, const std::string &opType,
                   std::vector<Value *> inputs, std::vector<Value *> outputs);
  std::vector<std::unique_ptr<Node>> nodes_;
  std::vector<std::unique_ptr<Value>> values_;
  std::unordered_map<std::string, Value *> valueByName_;
  std::vector<Value *> inputs_, outputs_;
};

}  // namespace lowbit
