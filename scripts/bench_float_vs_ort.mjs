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
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import ort from "onnxruntime-node";

const here = path.dirname(fileURLToPath(import.meta.url));
const lowbit = process.env.LOWBIT || path.join(here, "..", "build", "lowbit");

const args = process.argv.slice(2);
const opt = { batch: "1,64", threads: "2", iters: "50", warmup: "5", size: "0", rounds: "3" };
const models = [];
for (let i = 0; i < args.length; i++) {
  if (args[i].startsWith("--")) opt[args[i].slice(2)] = args[++i];
  else models.push(args[i]);
}
if (models.length === 0) {
  console.error("usage: node scripts/bench_float_vs_ort.mjs MODEL.onnx [...] [--batch 1,64] [--threads 2] [--iters 50]");
  process.exit(2);
}
const batches = opt.batch.split(",").map(Number);
const threads = Number(opt.threads), iters = Number(opt.iters), warmup = Number(opt.warmup);

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

// Seeded uniform [-1, 1) inputs (xorshift), like lowbit bench's.
function randomInput(n) {
  let s = 1234 >>> 0;
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    a[i] = (s / 4294967296) * 2 - 1;
  }
  return a;
}

async function ortMedianMs(session, dims) {
  const x = new ort.Tensor("float32", randomInput(dims.reduce((a, b) => a * b, 1)), dims);
  const feeds = { [session.inputNames[0]]: x };
  for (let i = 0; i < warmup; i++) await session.run(feeds);
  const ms = [];
  for (let i = 0; i < iters; i++) {
    const t0 = process.hrtime.bigint();
    await session.run(feeds);
    ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return median(ms);
}

function lowbitMedianMs(model, batch) {
  const out = execFileSync(lowbit, ["bench", model, "--batch", String(batch), "--threads", String(threads),
    "--iters", String(iters), "--warmup", String(warmup), "--json",
    ...(Number(opt.size) > 0 ? ["--size", opt.size] : [])], { encoding: "utf8" });
  return JSON.parse(out).results[0].median_ms;
}

function inputDims(model, batch) {
  const info = JSON.parse(execFileSync(lowbit, ["inspect", model, "--json"], { encoding: "utf8" }));
  const shape = info.inputs[0].shape.map((d) => (typeof d === "number" ? d : Number(opt.size)));
  shape[0] = batch;
  return shape;
}

console.log(`ONNX Runtime ${ort.env.versions?.common ?? ""} vs lowbit float, ${threads} thread(s), ` +
  `best of ${opt.rounds} rounds of the median of ${iters} runs; load average ${readFileSync("/proc/loadavg", "utf8").trim()}`);
console.log("model                          batch   lowbit_ms      ort_ms   lowbit/ort");
for (const model of models) {
  const session = await ort.InferenceSession.create(model, {
    intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: "sequential",
    graphOptimizationLevel: "all",
  });
  for (const batch of batches) {
    let lb = Infinity, o = Infinity;
    const dims = inputDims(model, batch);
    for (let r = 0; r < Number(opt.rounds); r++) {
      lb = Math.min(lb, lowbitMedianMs(model, batch));
      o = Math.min(o, await ortMedianMs(session, dims));
    }
    console.log(`${path.basename(model).padEnd(30)} ${String(batch).padStart(5)} ${lb.toFixed(3).padStart(11)} ` +
      `${o.toFixed(3).padStart(11)} ${(lb / o).toFixed(3).padStart(12)}`);
  }
}
