#!/usr/bin/env node
// The int8 speed table: lowbit float, int8 static and int8 dynamic (one `lowbit bench` call)
// against ONNX Runtime (onnxruntime-node, CPU, same thread count) running the float model and
// the QDQ file lowbit exported, in the same run.
//
//   node scripts/bench_int8.mjs FLOAT.onnx:QUANT.onnx [...] [--batch 1,64] [--threads 2]
//        [--iters 30] [--warmup 3] [--rounds 3] [--size 0]
//
// Per configuration the runners alternate for --rounds rounds and the best median of each is
// kept (the machine is shared and noisy). Ratios above 1.0 mean lowbit int8 static is faster.
import { readFileSync } from "node:fs";
import path from "node:path";
import { inputDims, lowbitBench, ort, ortMedianMs, ortSession, parseArgs } from "./bench_common.mjs";

const { opt, positional: pairs } = parseArgs(process.argv.slice(2),
  { batch: "1,64", threads: "2", iters: "30", warmup: "3", size: "0", rounds: "3" });
if (pairs.length === 0 || pairs.some((p) => !p.includes(":"))) {
  console.error("usage: node scripts/bench_int8.mjs FLOAT.onnx:QUANT.onnx [...] [--batch 1,64] [--threads 2]");
  process.exit(2);
}
const batches = opt.batch.split(",").map(Number);
const threads = Number(opt.threads), iters = Number(opt.iters), warmup = Number(opt.warmup);

console.log(`lowbit vs ONNX Runtime ${ort.env.versions?.common ?? ""}, ${threads} thread(s), best of ${opt.rounds} ` +
  `rounds of the median of ${iters} runs (ms); load average ${readFileSync("/proc/loadavg", "utf8").trim()}`);
console.log("| model | batch | lowbit float | int8 static | int8 dynamic | ORT float | ORT QDQ | static vs float " +
  "| static vs dynamic | ORT QDQ / lowbit static | integer layers (static) |");
console.log("|---|---|---|---|---|---|---|---|---|---|---|");
for (const pair of pairs) {
  const [floatModel, quantModel] = pair.split(":");
  const ortFloat = await ortSession(floatModel, threads);
  const ortQdq = await ortSession(quantModel, threads);
  for (const batch of batches) {
    const dims = inputDims(floatModel, batch, opt.size);
    const best = { float: Infinity, int8_static: Infinity, int8_dynamic: Infinity, ortFloat: Infinity, ortQdq: Infinity };
    let lowering = "";
    for (let r = 0; r < Number(opt.rounds); r++) {
      for (const row of lowbitBench([floatModel, "--int8", quantModel, "--batch", String(batch), "--threads",
        String(threads), "--iters", String(iters), "--warmup", String(warmup),
        ...(Number(opt.size) > 0 ? ["--size", opt.size] : [])])) {
        best[row.mode] = Math.min(best[row.mode], row.median_ms);
        if (row.mode === "int8_static") lowering = row.lowering;
      }
      best.ortFloat = Math.min(best.ortFloat, await ortMedianMs(ortFloat, dims, warmup, iters));
      best.ortQdq = Math.min(best.ortQdq, await ortMedianMs(ortQdq, dims, warmup, iters));
    }
    const f = (x) => x.toFixed(2);
    console.log(`| ${path.basename(floatModel, ".onnx")} | ${batch} | ${f(best.float)} | ${f(best.int8_static)} | ` +
      `${f(best.int8_dynamic)} | ${f(best.ortFloat)} | ${f(best.ortQdq)} | ${f(best.float / best.int8_static)}x | ` +
      `${f(best.int8_dynamic / best.int8_static)}x | ${f(best.ortQdq / best.int8_static)}x | ` +
      `${lowering.replace(" Conv/Gemm/MatMul as integers", "")} |`);
  }
}
