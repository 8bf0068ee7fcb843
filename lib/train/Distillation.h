// Limited-data two-stage knowledge distillation (Yuan et al.): the float model teaches its
// quantized copy. Stage 1 (blockwise) fits each block's weights and quantizer steps so the
// block reproduces the float block's output (MSE); stage 2 (joint) fits all of them to the
// float model's softened outputs (KL divergence at temperature T), optionally plus the blocks'
// output MSEs (intermediate feature matching). The two ablation baselines,
// blockwise only and global (joint) only, are modes too. The result is written back into the
// IR: weights, biases and QuantParams scales.
#pragma once

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

#include "ir/Graph.h"
#include "train/Network.h"

namespace lowbit::train {

struct FinetuneConfig {
  /// Inq: incremental network quantization of power-of-two weights: at each share of inqSteps
  /// the largest weights not yet quantized are frozen at their levels, the rest retrained
  /// (stage 2's distillation, float weights) until the next; the last share must be 1.
  enum class Mode { TwoStage, Blockwise, Global, Inq };
  Mode mode = Mode::TwoStage;
  int blockIters = 300;    ///< stage 1: optimisation steps per block
  /// Stage 2: most passes over the training images; 0 picks defaultJointEpochs(weight layers).
  int jointEpochs = 0;
  /// Stage 2: Adam, cosine-decayed over the stage; 0 picks the largest of lrCandidates whose
  /// short trial run (lrTrialEpochs, from the stage-1 result) ends within lrTolerance of the
  /// lowest held-back KL of the trials.
  float lr = 0.f;
  std::vector<float> lrCandidates = {1e-4f, 3e-4f, 1e-3f};
  int lrTrialEpochs = 2;
  float lrTolerance = 0.1f;
  float blockLr = 1e-3f;   ///< stage 1: Adam, cosine-decayed within each block
  /// Share of the images held back from training (both stages) when there is a stage 2: its
  /// KL after each epoch picks the learning rate, stops the stage after `patience` epochs
  /// without a new best, and picks the epoch kept (keepWithin). 0: train on all images
  /// for exactly jointEpochs at lr (both must then be given).
  float heldBack = 0.1f;
  int patience = 0;        ///< 0: max(3, half the epochs)
  int batch = 32;
  float temperature = 4.f;
  /// Stage 2 (joint and global modes) adds this weight times the mean over blocks of the MSE
  /// between each block's output and the float model's (0: the KL term alone).
  float featureWeight = 0.f;
  uint32_t seed = 0;
  /// Stage 1 feeds each block the float model's input to it (true) or the quantized model's,
  /// i.e. the output of the already fine-tuned quantized blocks before it (false).
  bool blockInputFromFloat = true;
  /// Stage 2 trains on random left-right flips and shifts of up to augmentShift pixels of the
  /// images, the teacher run on each augmented batch (stage 1 keeps the cached originals).
  bool augment = false;
  int augmentShift = 4;
  /// Stage 2 also trains on mixes of image pairs (Augment.h mixPairs) with lambda ~
  /// Beta(mixup, mixup), the teacher run on each mix; 0: off.
  float mixup = 0.f;
  /// Stage 2 keeps an exponential moving average of the parameters (decay per step, warmed up
  /// as min(ema, (1 + t) / (10 + t))). With held-back images each epoch's candidate is the
  /// better of the current parameters and the average by held-back KL; with none, the average
  /// is the result. 0: off (the current parameters only).
  float ema = 0.999f;
  /// With held-back images, stage 2 keeps the latest epoch's candidate whose held-back KL is
  /// within this many standard errors (of the per-image differences) of the lowest, not the
  /// lowest itself, whose lead on a hundred images is mostly luck. 0: the lowest.
  float keepWithin = 1.f;
  /// Stage 2's robustness terms (SRQ; RobustLosses.h), each times its weight, 0: off. The
  /// structure and Lipschitz terms compare the penultimate block's output (the logits when
  /// there is one block) of the two networks; the perturbation term moves each image by
  /// perturbEps (pixel units, per channel divided by pixelStd) along the sign of the step's
  /// input gradient; the spectral term is the sum over weight layers of sigma_max(W)^2.
  float structureWeight = 0.f;
  float lipschitzWeight = 0.f;
  float lipschitzBound = 1.f;
  float perturbWeight = 0.f;
  float perturbEps = 2.f / 255.f;
  float spectralWeight = 0.f;
  std::vector<float> pixelStd;  ///< the preprocessing's std per input channel (empty: 1)
  bool robust() const { return structureWeight > 0.f || lipschitzWeight > 0.f || perturbWeight > 0.f || spectralWeight > 0.f; }
  /// Learnable activation quantizers: LSQ steps, or PACT clips on unsigned activations.
  ActivationQuantizer activations = ActivationQuantizer::Lsq;
  /// Weight quantizers: LSQ steps, or DoReFa's tanh transform with derived steps.
  WeightQuantizer weightQuantizer = WeightQuantizer::Lsq;
  bool progress = true;
  std::vector<float> inqSteps = {0.5f, 0.75f, 0.875f, 1.f};
  static Mode parseMode(const std::string &name);  ///< twostage | blockwise | global | inq
};

/// The default stage-2 budget for a network with \p weightLayers Conv/Gemm/MatMul layers:
/// deeper networks accumulate more quantization error to undo (0.75 epochs per layer, 15..45).
int defaultJointEpochs(int weightLayers);

/// The images \p finetune holds back out of \p n (sorted): a share \p share of a permutation
/// seeded with \p seed, so each class keeps its share on average.
std::vector<int64_t> heldBackImages(int64_t n, float share, uint32_t seed);

/// A block of the graph: the nodes from one cut value to the next.
struct Block {
  std::string input, output;
  std::vector<std::string> nodes;
};

/// Cuts a prepared graph into blocks at values through which everything flows (a residual
/// block, a conv-relu unit), never between a layer and its activation; blocks without a
/// Conv/Gemm join the next one.
std::vector<Block> findBlocks(const Graph &g);

/// The subgraph computing \p output from \p input (a graph input of it), with constants and
/// QuantParams copied.
std::unique_ptr<Graph> extractSubgraph(const Graph &g, const std::string &input, const std::string &output);

/// Fine-tunes \p quantized (a prepared graph whose weights and activations carry QuantParams)
/// against \p teacher (the same graph in float) on \p images [N, C, H, W] and writes the
/// result back into \p quantized. \returns a report of the losses per stage and block.
nlohmann::json finetune(Graph &quantized, const Graph &teacher, const Tensor &images, const FinetuneConfig &cfg);

}  // namespace lowbit::train
