#!/usr/bin/env node
// Times lowbit's float runner (build/lowbit bench) against ONNX Runtime (onnxruntime-node, CPU)
// on the same model, batch sizes and thread count, in one run, and prints the ratios.
//
//   node scripts/bench_float_vs_ort.mjs MODEL.onnx [MODEL2.onnx ...] [--batch 1,64] [--threads 2]
//        [--iters 50] [--warmup 5] [--size 32]
//
// Ratio = lowbit median / ORT median (below 1.0: lowbit is faster). Machines are noisy: the two
// runners alternate for --rounds rounds (default 3) per configuration, the best median of each
// is kept, and the load average is printed with the figures.
import { readFileSync } from "node:fs";
import path from "node:path";
import { inputDims, lowbitBench, ort, ortMedianMs, ortSession, parseArgs } from "./bench_common.mjs";

const { opt, positional: models } = parseArgs(process.argv.slice(2),
  { batch: "1,64", threads: "2", iters: "50", warmup: "5", size: "0", rounds: "3" });
if (models.length === 0) {
  console.error("usage: node scripts/bench_float_vs_ort.mjs MODEL.onnx [...] [--batch 1,64] [--threads 2] [--iters 50]");
  process.exit(2);
}
const batches = opt.batch.split(",").map(Number);
const threads = Number(opt.threads), iters = Number(opt.iters), warmup = Number(opt.warmup);

function lowbitMedianMs(model, batch) {
  return lowbitBench([model, "--batch", String(batch), "--threads", String(threads), "--iters", String(iters),
    "--warmup", String(warmup), ...(Number(opt.size) > 0 ? ["--size", opt.size] : [])])[0].median_ms;
}

console.log(`ONNX Runtime ${ort.env.versions?.common ?? ""} vs lowbit float, ${threads} thread(s), ` +
  `best of ${opt.rounds} rounds of the median of ${iters} runs; load average ${readFileSync("/proc/loadavg", "utf8").trim()}`);
console.log("model                          batch   lowbit_ms      ort_ms   lowbit/ort");
for (const model of models) {
  const session = await ortSession(model, threads);
  for (const batch of batches) {
    let lb = Infinity, o = Infinity;
    const dims = inputDims(model, batch, opt.size);
    for (let r = 0; r < Number(opt.rounds); r++) {
      lb = Math.min(lb, lowbitMedianMs(model, batch));
      o = Math.min(o, await ortMedianMs(session, dims, warmup, iters));
    }
    console.log(`${path.basename(model).padEnd(30)} ${String(batch).padStart(5)} ${lb.toFixed(3).padStart(11)} ` +
      `${o.toFixed(3).padStart(11)} ${(lb / o).toFixed(3).padStart(12)}`);
  }
}
