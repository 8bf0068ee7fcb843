#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>

#include "Commands.h"
#include "jobs/CompareJob.h"
#include "jobs/InspectJob.h"
#include "support/Error.h"
#include "ops/OpSupport.h"
#include "support/Strings.h"

namespace lowbit {

void addInspectCommand(CLI::App &app, Action &action) {
  struct Opts {
    std::string model;
    bool json = false, listOps = false;
    std::vector<std::string> compare;
    CompareConfig cmp;
    std::string mean, std;
  };
  auto opts = std::make_shared<Opts>();
  CLI::App *cmd = app.add_subcommand("inspect", "inputs, outputs, ops, parameters, FLOPs per layer, unsupported ops");
  cmd->add_option("model", opts->model, "ONNX model");
  cmd->add_flag("--json", opts->json, "print one JSON object");
  cmd->add_flag("--list-ops", opts->listOps, "list the ONNX ops lowbit supports: float runner, int8 runner, training engine");
  cmd->add_option("--compare", opts->compare, "FLOAT.onnx QUANT.onnx: per-layer SQNR on --data images, worst first")
      ->expected(2);
  cmd->add_option("--data", opts->cmp.dataDir, "images for --compare");
  cmd->add_option("--limit", opts->cmp.limit, "images for --compare (class-balanced; 0 = all)");
  addPreprocessOptions(cmd, opts->cmp.preprocess, opts->cmp.size, opts->mean, opts->std);
  cmd->callback([opts, &action, cmd] {
    action = [opts, cmd]() -> int {
      if (opts->listOps) {
        std::printf("%s", opts->json ? (opTable().dump(2) + "\n").c_str() : formatOpTable(opTable()).c_str());
        return 0;
      }
      if (!opts->compare.empty()) {
        if (opts->cmp.dataDir.empty()) throw Error("--compare needs --data DIR");
        finishPreprocessOptions(opts->cmp.preprocess, opts->cmp.size, opts->mean, opts->std);
        opts->cmp.floatPath = opts->compare[0];
        opts->cmp.quantPath = opts->compare[1];
        nlohmann::json r = compareModels(opts->cmp);
        std::printf("%s", opts->json ? (r.dump(2) + "\n").c_str() : formatComparison(r).c_str());
        return 0;
      }
      if (opts->model.empty()) {
        std::fprintf(stderr, "error: inspect needs a MODEL (or --list-ops)\n%s", cmd->help().c_str());
        return 2;
      }
      nlohmann::json r = inspectModel(opts->model);
      std::printf("%s", opts->json ? (r.dump(2) + "\n").c_str() : formatInspection(r).c_str());
      return 0;
    };
  });
}

}  // namespace lowbit
