// Each subcommand registers its flags on the app and sets the action to run once parsing
// succeeded. Subcommands only turn flags into a config and call one lib/ function.
#pragma once

#include <functional>

#include <CLI/CLI.hpp>

namespace lowbit {

using Action = std::function<int()>;

void addInspectCommand(CLI::App &app, Action &action);
void addEvalCommand(CLI::App &app, Action &action);
void addBenchCommand(CLI::App &app, Action &action);

}  // namespace lowbit
