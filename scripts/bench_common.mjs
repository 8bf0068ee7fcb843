// Shared by the timing scripts: seeded inputs like lowbit bench's, ONNX Runtime sessions and
// their median latency, and lowbit invocations.
import { execFileSync } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import ort from "onnxruntime-node";

const here = path.dirname(fileURLToPath(import.meta.url));
export const lowbit = process.env.LOWBIT || path.join(here, "..", "build", "lowbit");
export { ort };

/// --name value pairs into opt (defaults given), the rest into positional.
export function parseArgs(argv, defaults) {
  const opt = { ...defaults };
  const positional = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i].startsWith("--")) opt[argv[i].slice(2)] = argv[++i];
    else positional.push(argv[i]);
  }
  return { opt, positional };
}

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/// Seeded uniform [-1, 1) inputs (xorshift).
export function randomInput(n) {
  let s = 1234 >>> 0;
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    a[i] = (s / 4294967296) * 2 - 1;
  }
  return a;
}

export async function ortSession(model, threads, level = "all") {
  return ort.InferenceSession.create(model, {
    intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: "sequential", graphOptimizationLevel: level,
  });
}

/// Median milliseconds of session.run over iters runs after warmup runs.
export async function ortMedianMs(session, dims, warmup, iters) {
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

/// `lowbit bench ... --json` results array.
export function lowbitBench(args) {
  return JSON.parse(execFileSync(lowbit, ["bench", ...args, "--json"], { encoding: "utf8" })).results;
}

/// The model's input dims for \p batch (dynamic H/W from size).
export function inputDims(model, batch, size) {
  const info = JSON.parse(execFileSync(lowbit, ["inspect", model, "--json"], { encoding: "utf8" }));
  const shape = info.inputs[0].shape.map((d) => (typeof d === "number" ? d : Number(size)));
  shape[0] = batch;
  return shape;
}
