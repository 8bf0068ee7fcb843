#include <cstdio>
#include <memory>

#include "Commands.h"
#include "jobs/ConvertJob.h"

namespace lowbit {

void addConvertCommand(CLI::App &app, Action &action) {
  struct Opts {
    ConvertConfig cfg;
    bool json = false;
  };
  auto o = std::make_shared<Opts>();
  CLI::App *cmd = app.add_subcommand(
      "convert", "rewrite a quantized model another tool wrote (QOperator: QLinearConv, ONNX Runtime's QLinear* ops) as QDQ");
  cmd->add_option("model", o->cfg.inputPath, "ONNX model")->required();
  cmd->add_option("-o,--output", o->cfg.outputPath, "QDQ ONNX model to write")->required();
  cmd->add_flag("--json", o->json, "print one JSON object");
  cmd->callback([o, &action] {
    action = [o]() -> int {
      const nlohmann::json r = runConvert(o->cfg);
      if (o->json) {
        std::printf("%s\n", r.dump(2).c_str());
      } else {
        auto list = [](const nlohmann::json &counts) {
          std::string s;
          for (const auto &[op, n] : counts.items()) s += cat(s.empty() ? "" : " ", op, "x", n.get<int>());
          return s;
        };
        std::printf("wrote %s\n  in:  %s\n  out: %s\n", o->cfg.outputPath.c_str(), list(r["ops_in"]).c_str(),
                    list(r["ops_out"]).c_str());
      }
      return 0;
    };
  });
}

}  // namespace lowbit
