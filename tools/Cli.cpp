// The command line of lowbit: parses flags, runs one subcommand, and is the one place that turns
// errors into messages and exit codes: 0 success, 1 bad input (lowbit::Error), 2 bad usage
// (CLI11 parse errors, lowbit::UsageError), 3 a bug (any other exception).
#include <cstdio>
#include <exception>

#include "Commands.h"
#include "support/Error.h"

namespace lowbit {

int runCli(int argc, char **argv) {
  CLI::App app{"lowbit: post-training quantization for ONNX convolutional networks"};
  app.set_version_flag("--version", LOWBIT_VERSION);
  app.require_subcommand(1);
  Action action;
  addInspectCommand(app, action);
  addEvalCommand(app, action);
  addQuantizeCommand(app, action);
  addBenchCommand(app, action);
  addConvertCommand(app, action);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp &e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp &e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion &e) {
    return app.exit(e);
  } catch (const CLI::ParseError &e) {
    std::fprintf(stderr, "error: %s (see lowbit --help)\n", e.what());
    return 2;
  }
  try {
    return action ? action() : 2;
  } catch (const UsageError &e) {
    std::fprintf(stderr, "error: %s (see lowbit --help)\n", e.what());
    return 2;
  } catch (const Error &e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  } catch (const std::bad_alloc &) {
    std::fprintf(stderr, "error: out of memory\n");
    return 1;
  } catch (const std::exception &e) {
    // Anything else is a bug in lowbit or a library it calls; still no crash.
    std::fprintf(stderr, "error: internal error: %s\n", e.what());
    return 3;
  }
}

}  // namespace lowbit
