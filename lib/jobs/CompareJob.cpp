#include "jobs/CompareJob.h"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "data/BatchLoader.h"
#include "data/CalibrationSet.h"
#include "jobs/ModelLoader.h"
#include "runtime/Executor.h"
#include "support/Strings.h"

namespace lowbit {

nlohmann::json compareModels(const CompareConfig &cfg) {
  std::unique_ptr<Graph> f = loadPreparedModel(cfg.floatPath), q = loadPreparedModel(cfg.quantPath);
  static const std::set<std::string> kCompared = {"Conv", "Gemm", "MatMul", "Add", "Relu", "Clip",
                                                  "MaxPool", "AveragePool", "GlobalAveragePool"};
  std::vector<std::string> names;
  std::vector<std::string> ops;
  for (const Node *n : f->nodes()) {
    if (!kCompared.count(n->opType())) continue;
    const Value *v = n->output(0);
    const Value *qv = q->findValue(v->name());
    if (!qv || qv->isConstant() || v->dtype() != DType::Float32 || f->isGraphOutput(v)) continue;
    names.push_back(v->name());
    ops.push_back(cat(n->name(), " (", n->opType(), ")"));
  }
  ImageInputInfo in = imageInputOf(*f, cfg.floatPath);
  const int h = in.height > 0 ? in.height : cfg.size, w = in.width > 0 ? in.width : cfg.size;
  if (h <= 0 || w <= 0) throw Error(cat(cfg.floatPath, ": input has dynamic height/width; give --size"));
  ImageSet set = scanImageFolder(cfg.dataDir);
  BatchLoader loader(pickBalancedImages(set, cfg.limit, std::nullopt), cfg.preprocess, in.channels, h, w);
  ExecutorOptions opts;
  opts.taps = names;
  Executor fe(*f, opts), qe(*q, opts);
  std::vector<double> signal(names.size(), 0.0), noise(names.size(), 0.0);
  double outSignal = 0, outNoise = 0;
  int64_t agree = 0, images = 0;
  std::vector<Tensor> ft, qt;
  const size_t batch = static_cast<size_t>(std::max(1, cfg.batch));
  for (size_t b = 0; b < loader.size(); b += batch) {
    size_t e = std::min(loader.size(), b + batch);
    std::vector<Tensor> x;
    x.push_back(loader.load(b, e, nullptr));
    Tensor fo = fe.run(x, &ft)[0], qo = qe.run(x, &qt)[0];
    for (size_t i = 0; i < names.size(); ++i) {
      const float *a = ft[i].data<float>(), *c = qt[i].data<float>();
      for (int64_t k = 0; k < ft[i].numel(); ++k) {
        signal[i] += static_cast<double>(a[k]) * a[k];
        noise[i] += (static_cast<double>(a[k]) - c[k]) * (static_cast<double>(a[k]) - c[k]);
      }
    }
    const float *a = fo.data<float>(), *c = qo.data<float>();
    const int64_t classes = logitClasses(fo.dims()), k = classes > 0 ? classes : fo.dims().back(), n = fo.numel() / k;
    for (int64_t r = 0; r < n; ++r) {
      agree += std::max_element(a + r * k, a + (r + 1) * k) - (a + r * k) ==
               std::max_element(c + r * k, c + (r + 1) * k) - (c + r * k);
      for (int64_t j = 0; j < k; ++j) {
        outSignal += static_cast<double>(a[r * k + j]) * a[r * k + j];
        outNoise += (static_cast<double>(a[r * k + j]) - c[r * k + j]) * (static_cast<double>(a[r * k + j]) - c[r * k + j]);
      }
    }
    images += static_cast<int64_t>(e - b);
  }
  auto db = [](double s, double n) { return n == 0 ? 999.0 : 10.0 * std::log10(s / n); };
  nlohmann::json layers = nlohmann::json::array();
  for (size_t i = 0; i < names.size(); ++i)
    layers.push_back({{"tensor", names[i]}, {"node", ops[i]}, {"sqnr_db", db(signal[i], noise[i])}});
  std::sort(layers.begin(), layers.end(), [](const nlohmann::json &x, const nlohmann::json &y) {
    return x["sqnr_db"].get<double>() < y["sqnr_db"].get<double>();
  });
  return {{"float", cfg.floatPath}, {"quantized", cfg.quantPath}, {"images", images},
          {"output_sqnr_db", db(outSignal, outNoise)},
          {"top1_agreement", 100.0 * static_cast<double>(agree) / static_cast<double>(std::max<int64_t>(1, images))},
          {"layers", layers}};
}

std::string formatComparison(const nlohmann::json &r) {
  std::ostringstream os;
  os << r["quantized"].get<std::string>() << " vs " << r["float"].get<std::string>() << " on " << r["images"]
     << " images: output SQNR " << r["output_sqnr_db"].get<double>() << " dB, top-1 agreement "
     << r["top1_agreement"].get<double>() << "%\nper-layer SQNR, worst first:\n";
  for (const auto &l : r["layers"])
    os << "  " << l["sqnr_db"].get<double>() << " dB  " << l["node"].get<std::string>() << "\n";
  return os.str();
}

}  // namespace lowbit
