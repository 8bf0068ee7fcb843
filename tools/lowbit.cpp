// lowbit: post-training quantization toolchain for ONNX convolutional networks.
#include "Commands.h"

int main(int argc, char **argv) { return lowbit::runCli(argc, argv); }
