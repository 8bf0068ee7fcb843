#!/usr/bin/env node
// Runs a model in ONNX Runtime (onnxruntime-node, CPU) on the inputs lowbit eval dumped and
// compares the logits: max |difference|, how many outputs differ at all, top-1 agreement, plus
// both top-1 accuracies. Any 2-D output works (a flattened activation, say).
//
//   ./build/lowbit eval MODEL.onnx --data DIR ... --dump /tmp/run
//   node scripts/compare_ort.mjs MODEL.onnx /tmp/run [--batch 250] [--threads 2]
import { readFileSync } from "node:fs";
import ort from "onnxruntime-node";

const args = process.argv.slice(2);
const opt = { batch: "250", threads: "2", optimization: "all" };
const pos = [];
for (let i = 0; i < args.length; i++) {
  if (args[i].startsWith("--")) opt[args[i].slice(2)] = args[++i];
  else pos.push(args[i]);
}
if (pos.length !== 2) {
  console.error("usage: node scripts/compare_ort.mjs MODEL.onnx DUMP_PREFIX [--batch 250] [--threads 2]");
  process.exit(2);
}
const [model, prefix] = pos;
const meta = JSON.parse(readFileSync(prefix + ".json", "utf8"));
const toF32 = (buf) => new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4);
const inputs = toF32(readFileSync(prefix + ".inputs.f32"));
const lowbitLogits = toF32(readFileSync(prefix + ".logits.f32"));
const [n, ...per] = meta.input_shape;
const perImage = per.reduce((a, b) => a * b, 1);
const classes = meta.logits_shape[1];

const session = await ort.InferenceSession.create(model, {
  intraOpNumThreads: Number(opt.threads), interOpNumThreads: 1, graphOptimizationLevel: opt.optimization,
});
const argmax = (a, off, k) => {
  let best = 0;
  for (let j = 1; j < k; j++) if (a[off + j] > a[off + best]) best = j;
  return best;
};
let maxDiff = 0, agree = 0, ortCorrect = 0, lowbitCorrect = 0, differing = 0, imagesDiffering = 0;
const batch = Number(opt.batch);
for (let b = 0; b < n; b += batch) {
  const m = Math.min(batch, n - b);
  const x = new ort.Tensor("float32", inputs.subarray(b * perImage, (b + m) * perImage), [m, ...per]);
  const out = await session.run({ [session.inputNames[0]]: x });
  const logits = out[session.outputNames[0]].data;
  for (let i = 0; i < m; i++) {
    let any = false;
    for (let j = 0; j < classes; j++) {
      const d = Math.abs(logits[i * classes + j] - lowbitLogits[(b + i) * classes + j]);
      maxDiff = Math.max(maxDiff, d);
      if (d > 0) {
        differing++;
        any = true;
      }
    }
    imagesDiffering += any;
    const o = argmax(logits, i * classes, classes), l = argmax(lowbitLogits, (b + i) * classes, classes);
    agree += o === l;
    ortCorrect += o === meta.labels[b + i];
    lowbitCorrect += l === meta.labels[b + i];
  }
}
const pct = (k) => ((100 * k) / n).toFixed(2);
console.log(`${model}: ${n} images, ONNX Runtime ${pct(ortCorrect)}% vs lowbit ${pct(lowbitCorrect)}% top-1; ` +
  `top-1 agreement ${pct(agree)}%; max |logit difference| ${maxDiff.toExponential(3)}; ` +
  `${differing} of ${n * classes} outputs differ, in ${imagesDiffering} images`);
console.log(JSON.stringify({ model, images: n, ort_top1: Number(pct(ortCorrect)), lowbit_top1: Number(pct(lowbitCorrect)),
  top1_agreement: Number(pct(agree)), max_abs_diff: maxDiff, outputs_differing: differing, outputs: n * classes,
  images_differing: imagesDiffering }));
