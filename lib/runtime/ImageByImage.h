// The opening layers of an ImageNet-sized network image by image. At 224x224 their tensors
// are megabytes an image: a whole batch of them goes through memory between layers (SqueezeNet
// 1.1's first convolution writes 202 MB at batch 64 that its max pooling reads back), while one
// image's stay in cache. These layers are built a second time for one image, once per thread,
// and each thread runs its copy of that group of steps on its share of the images, each time
// on that image's slice of the batch input and of the value where the batch plan takes over.
#pragma once

#include "runtime/PlanBuilder.h"

namespace lowbit {

/// With a batch of 2 to 1,024 images: finds the opening layers of \p g (the plan graph, static
/// shapes) that make tensors of at least 131,072 elements an image and end in a single value,
/// builds them for one image (one single-threaded copy per thread of \p maxThreads) and adds
/// them to \p b as one group of steps run per image. Then the value
/// where the prefix ends is defined in \p b (a batch buffer in the layout the one-image steps
/// write) and the prefix nodes are marked computed. Does nothing (and returns false) when no
/// such prefix exists, its one-image shapes do not follow, or a step of it is not a oneDNN
/// primitive or a kernel that names its buffers (PlanBuilder::addKernel; others cannot be
/// pointed at another image). \p maxThreads as for the plan. The caller decides whether the
/// plan may run so: per image, float convolutions may sum in another order; integer ones and
/// elementwise steps give the same results.
bool buildImageByImagePrefix(PlanBuilder &b, const Graph &g, int maxThreads);

}  // namespace lowbit
