// Builds an execution plan for one set of input shapes: oneDNN memories for every value
// (blocked layouts where oneDNN picks them), primitives created once, reorders only where a
// consumer needs another layout.
#pragma once

#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include <oneapi/dnnl/dnnl.hpp>

#include "ir/Graph.h"

namespace lowbit {

/// One unit of work in a plan.
struct PlanStep {
  std::string label;  ///< node name (or "reorder <value>") for profiles and errors
  std::string opType;
  dnnl::primitive primitive;                 ///< set for oneDNN steps
  std::unordered_map<int, dnnl::memory> args;
  std::function<void()> fn;                  ///< set for reference-kernel steps
  /// Set for reference-kernel steps that name their buffers (addKernel): it runs on `buffers`,
  /// and in an image-by-image group on each image's (chunkBuffers), as primitives on chunkArgs.
  std::function<void(void *const *buffers)> kernel;
  std::vector<void *> buffers;
  int threads = 1;                           ///< OpenMP threads in effect when it was built; it runs on them
  /// Set on the first step of a group run image by image (ImageByImage.h): the group's length,
  /// how many images it runs for, and in how many equal single-threaded copies, one per thread
  /// (copy t runs images t, t + groupCopies, ...).
  size_t groupSize = 0, groupImages = 0, groupCopies = 1;
  /// In such a group: the arguments for each image its copy runs (args are the first image's).
  std::vector<std::unordered_map<int, dnnl::memory>> chunkArgs;
  std::vector<std::vector<void *>> chunkBuffers;
};

/// Row-major (plain) f32 memory descriptor for \p dims (a scalar becomes {1}).
dnnl::memory::desc plainDesc(const Dims &dims, dnnl::memory::data_type dt = dnnl::memory::data_type::f32);
/// True when \p md is the plain row-major layout of its dims.
bool isPlain(const dnnl::memory::desc &md);
/// \p md (same dims and layout, strides in elements) holding \p dt elements instead.
dnnl::memory::desc withDataType(dnnl::memory::desc md, dnnl::memory::data_type dt);
/// The order in which \p md stores its dims (outermost first) when it is a dense permutation
/// of the plain layout (plain itself, nhwc, ...); nullopt for blocked, padded or offset layouts.
std::optional<std::vector<size_t>> denseDimOrder(const dnnl::memory::desc &md);
/// nChw16c or nChw8c when \p md is that channel-blocked layout of its 4-D dims (what oneDNN's
/// AVX-512 and AVX2 kernels pick for convolutions), else nullopt.
std::optional<dnnl::memory::format_tag> channelBlockedTag(const dnnl::memory::desc &md);
/// True when \p a and \p b put every element at the same offset (equal descriptors, or e.g.
/// 16 channels as nChw16c and as nhwc): a memory of one is a view in the other.
bool sameBytes(const dnnl::memory::desc &a, const dnnl::memory::desc &b);
/// The dense layout of \p dims that stores them in \p order (outermost first).
dnnl::memory::desc orderedDesc(const Dims &dims, dnnl::memory::data_type dt, const std::vector<size_t> &order);
/// Strides per dim (elements) of a dense layout.
std::vector<int64_t> stridesOf(const dnnl::memory::desc &md);
/// The oneDNN type of an IR type (float32, int8, uint8, int32); Error for others.
dnnl::memory::data_type dnnlType(DType t);

class PlanBuilder {
 public:
  PlanBuilder(const Graph &g, dnnl::engine &engine) : graph_(g), engine_(engine) {}

  const Graph &graph() const { return graph_; }
  /// Whether a step may overwrite a dead input's buffer (the residual sum does).
  bool allowInPlace() const { return allowInPlace_; }
  void setAllowInPlace(bool allow) { allowInPlace_ = allow; }
  /// Whether float convolutions may sum otherwise than one direct layer at a time: Winograd
  /// kernels, a depthwise reader fused, the opening layers image by image
  /// (ExecutorOptions::fastConvolutions).
  bool fastConvolutions() const { return fastConvolutions_; }
  void setFastConvolutions(bool on) { fastConvolutions_ = on; }
  /// Values the caller reads after the run (taps): never folded away into a fused step.
  bool observed(const Value *v) const { return observed_.count(v) != 0; }
  void setObserved(std::set<const Value *> values) { observed_ = std::move(values); }
  dnnl::engine &engine() { return engine_; }
  int64_t opset() const { return graph_.opset; }

  /// The memory holding \p v as it is (any layout). Constants are materialised plain.
  dnnl::memory memoryOf(const Value *v);
  /// \p v in plain row-major layout; adds a reorder step the first time it is needed.
  dnnl::memory plainMemoryOf(const Value *v);
  /// \p v in layout \p md (same dims); adds a cached reorder step if it differs.
  dnnl::memory memoryIn(const Value *v, const dnnl::memory::desc &md);
  /// The copy of \p v an earlier memoryIn reordered into layout \p md, if there is one.
  std::optional<dnnl::memory> reorderedCopy(const Value *v, const dnnl::memory::desc &md) const;
  /// A new buffer of layout \p md, owned by the plan (views made from its handle stay valid).
  dnnl::memory newMemory(const dnnl::memory::desc &md) {
    owned_.emplace_back(md, engine_);
    return owned_.back();
  }
  /// A buffer of \p bytes raw bytes (at least one) for a value of a type oneDNN has no memory
  /// type for (int64, bool, ...); the executor copies it out by the value's ONNX type.
  dnnl::memory newByteBuffer(size_t bytes) {
    return newMemory(dnnl::memory::desc({static_cast<int64_t>(std::max<size_t>(bytes, 1))}, dnnl::memory::data_type::u8,
                                        dnnl::memory::format_tag::a));
  }
  /// The host tensor holding \p v, created on the first call: for values whose elements have
  /// no fixed size (STRING graph outputs), which steps write as whole tensors.
  std::shared_ptr<Tensor> hostTensor(const Value *v) {
    std::shared_ptr<Tensor> &t = host_[v];
    if (!t) t = std::make_shared<Tensor>();
    return t;
  }
  std::shared_ptr<Tensor> findHostTensor(const Value *v) const {
    auto it = host_.find(v);
    return it == host_.end() ? nullptr : it->second;
  }
  /// \p from in layout \p want, reordered now (while building: for constants such as
  /// weights) into a buffer the plan owns; \p from itself when the layouts agree.
  dnnl::memory reorderedNow(dnnl::memory from, const dnnl::memory::desc &want);
  /// Records that \p v lives in \p mem from now on.
  void define(const Value *v, dnnl::memory mem);
  bool isDefined(const Value *v) const { return memories_.count(v) != 0; }

  /// Marks \p n as computed by another node's step (e.g. a DequantizeLinear folded into the
  /// fake-quant step of its QuantizeLinear); buildNode skips it.
  void markComputed(const Node *n) { computed_.insert(n); }
  bool isComputed(const Node *n) const { return computed_.count(n) != 0; }

  void addPrimitive(const Node &n, dnnl::primitive p, std::unordered_map<int, dnnl::memory> args);
  void addFunction(const Node &n, std::function<void()> fn);
  /// A reference kernel that reads and writes only through \p buffers (which it receives when
  /// it runs): unlike addFunction's closures, such a step can be pointed at another image.
  void addKernel(const Node &n, std::vector<void *> buffers, std::function<void(void *const *)> kernel);
  /// Adds a reorder from \p from to \p to labelled \p label.
  void addReorder(const std::string &label, const dnnl::memory &from, const dnnl::memory &to,
                  const dnnl::primitive_attr &attr = dnnl::primitive_attr());

  std::vector<PlanStep> takeSteps() { return std::move(steps_); }
  /// Appends steps another builder made, with the thread counts they were built for.
  void appendSteps(std::vector<PlanStep> steps) {
    for (PlanStep &s : steps) steps_.push_back(std::move(s));
  }
  /// Keeps another builder's buffers alive as long as this plan's.
  void keepBuffers(std::vector<dnnl::memory> buffers) {
    for (dnnl::memory &m : buffers) owned_.push_back(std::move(m));
  }
  /// Every buffer the plan allocated; the plan must keep them alive while it runs.
  std::vector<dnnl::memory> takeBuffers() { return std::move(owned_); }

 private:
  void addStep(PlanStep s);

  const Graph &graph_;
  dnnl::engine &engine_;
  std::unordered_map<const Value *, dnnl::memory> memories_;
  // (value, layout) -> reordered copy, so several readers share one reorder
  std::map<std::pair<const Value *, std::string>, dnnl::memory> reordered_;
  std::vector<PlanStep> steps_;
  std::vector<dnnl::memory> owned_;
  std::set<const Node *> computed_;
  std::unordered_map<const Value *, std::shared_ptr<Tensor>> host_;
  bool allowInPlace_ = true;
  bool fastConvolutions_ = false;
  std::set<const Value *> observed_;
};

/// Adds the steps that compute \p n (Conv, Gemm, pooling, ...). Throws Error naming \p n for
/// ops, attributes or types the float runner does not support.
void buildNode(PlanBuilder &b, const Node &n);

}  // namespace lowbit
