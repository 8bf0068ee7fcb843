#!/usr/bin/env node
// Compares the logits of two `lowbit eval --dump` runs on the same images (e.g. the float
// simulation of a QDQ model against the int8 runner, or a float model against its int8
// version): top-1 agreement, SQNR of B against A, max |difference|, and both accuracies.
//
//   node scripts/compare_dumps.mjs PREFIX_A PREFIX_B
import { readFileSync } from "node:fs";

const [a, b] = process.argv.slice(2);
if (!a || !b) {
  console.error("usage: node scripts/compare_dumps.mjs PREFIX_A PREFIX_B");
  process.exit(2);
}
const load = (prefix) => {
  const meta = JSON.parse(readFileSync(prefix + ".json", "utf8"));
  const buf = readFileSync(prefix + ".logits.f32");
  return { meta, logits: new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4) };
};
const A = load(a), B = load(b);
const [n, k] = A.meta.logits_shape;
if (B.meta.logits_shape[0] !== n || B.meta.logits_shape[1] !== k) {
  console.error(`${b}: logits ${B.meta.logits_shape} differ in shape from ${a}'s ${A.meta.logits_shape}`);
  process.exit(1);
}
const argmax = (x, i) => {
  let best = 0;
  for (let j = 1; j < k; j++) if (x[i * k + j] > x[i * k + best]) best = j;
  return best;
};
let agree = 0, correctA = 0, correctB = 0, signal = 0, noise = 0, maxDiff = 0;
for (let i = 0; i < n; i++) {
  const ta = argmax(A.logits, i), tb = argmax(B.logits, i);
  agree += ta === tb;
  correctA += ta === A.meta.labels[i];
  correctB += tb === B.meta.labels[i];
  for (let j = 0; j < k; j++) {
    const x = A.logits[i * k + j], d = B.logits[i * k + j] - x;
    signal += x * x;
    noise += d * d;
    maxDiff = Math.max(maxDiff, Math.abs(d));
  }
}
const pct = (x) => (100 * x / n).toFixed(2);
console.log(JSON.stringify({
  images: n, top1_agreement: Number(pct(agree)), top1_a: Number(pct(correctA)), top1_b: Number(pct(correctB)),
  sqnr_db: Number((10 * Math.log10(signal / Math.max(noise, 1e-30))).toFixed(2)), max_abs_diff: maxDiff,
}));
