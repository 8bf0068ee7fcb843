// Each subcommand registers its flags on the app and sets the action to run once parsing
// succeeded. Subcommands only turn flags into a config and call one lib/ function.
#pragma once

#include <functional>

#include <CLI/CLI.hpp>

#include "support/Error.h"

namespace lowbit {

using Action = std::function<int()>;

/// The whole command line (argv[0] is the program): \returns the exit code (Cli.cpp).
int runCli(int argc, char **argv);

void addInspectCommand(CLI::App &app, Action &action);
void addEvalCommand(CLI::App &app, Action &action);
void addBenchCommand(CLI::App &app, Action &action);
void addQuantizeCommand(CLI::App &app, Action &action);
void addConvertCommand(CLI::App &app, Action &action);

/// Runs \p parse (turning flag values into settings) with its Errors reported as bad usage,
/// prefixed with \p flag when the message does not name it.
template <typename Parse>
auto usage(Parse parse, const std::string &flag = "") -> decltype(parse()) {
  try {
    return parse();
  } catch (const UsageError &) {
    throw;
  } catch (const Error &e) {
    throw UsageError(flag.empty() ? std::string(e.what()) : cat(flag, ": ", e.what()));
  }
}

struct PreprocessConfig;
/// --size/--resize/--crop/--mean/--std/--bgr, shared by eval and quantize.
void addPreprocessOptions(CLI::App *cmd, PreprocessConfig &pre, int &size, std::string &mean, std::string &std);
/// Applies --size and parses --mean/--std after parsing.
void finishPreprocessOptions(PreprocessConfig &pre, int size, const std::string &mean, const std::string &std);

}  // namespace lowbit
