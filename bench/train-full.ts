/**
 * Suite `train`, case `full-step` (issue 7): one training step of the native full-transformer
 * student (forward + backward + AdamW, all in C++) against onnxruntime's forward pass
 * (`ort-forward`, the baseline) on the same MiniLM-sized model and batch: 6 layers, hidden 384,
 * 12 heads, FFN 1536, vocab 30522, 32 sequences × 128 tokens (random weights and ids: only speed
 * is meaningful). The ONNX file is written by lib/models' builder from the very weights the native
 * model is loaded with. Also reported: the native forward alone (`full-forward`).
 *
 * Target (issue 7): full-step within 4× ort-forward (a backward costs about two forwards).
 * speedup = ort-forward median / this row's median, so full-step should reach ≥ 0.25.
 * Throughput is tokens/s; extra carries the memory figures (flat buffers, activations, process
 * peak RSS) and the CPU time per call.
 *
 * Not registered in bench/index.ts yet: export `trainFullSuite` and add it there (or merge its
 * rows into bench/train.ts's suite) to make it part of `synthtune bench --json`.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadOrtModel } from '../lib/models/ort';
import { buildBertOnnx, type BertConfig } from '../lib/models/onnx/bert';
import { randomBertWeights } from '../lib/models/tiny';
import { createNativeBert, loadNativeWeights, nativeBertAvailable, nativeConfigFrom } from '../lib/training/students/full';
import { hardware, measure, type BenchRow, type Suite } from './harness';

const MINILM: BertConfig = {
  vocabSize: 30522, hidden: 384, layers: 6, heads: 12, intermediate: 1536, maxPosition: 512, typeVocabSize: 2, layerNormEps: 1e-12,
};
const QUICK: BertConfig = { ...MINILM, vocabSize: 2000, hidden: 128, layers: 2, heads: 4, intermediate: 512 };

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}

function mib(bytes: number): number {
  return Math.round((bytes / 2 ** 20) * 10) / 10;
}

/** Median wall ms and mean process CPU ms per call. */
async function timed(fn: () => unknown, budgetMs: number): Promise<{ ms: number; cpuMs: number }> {
  let n = 0;
  const c0 = process.cpuUsage();
  const ms = await measure(async () => {
    n++;
    await fn();
  }, { budgetMs, minReps: 3, warmup: 1 });
  const c = process.cpuUsage(c0);
  return { ms, cpuMs: (c.user + c.system) / 1e3 / n };
}

export const trainFullSuite: Suite = {
  name: 'train',
  description: 'full-transformer training step (native fwd+bwd+AdamW) vs onnxruntime forward, MiniLM-sized, 32×128 tokens',
  async run({ quick, log }) {
    const avail = nativeBertAvailable();
    if (!avail.ok) {
      log(`train/full-step skipped: ${avail.reason}`);
      return [];
    }
    const shape = quick ? QUICK : MINILM;
    const B = quick ? 4 : 32;
    const T = quick ? 32 : 128;
    const tokens = B * T;
    const threads = os.cpus().length;
    const budgetMs = quick ? 500 : 10000;
    log(`train/full-step: ${shape.layers} layers, hidden ${shape.hidden}, ${shape.heads} heads, FFN ${shape.intermediate}, ` +
      `vocab ${shape.vocabSize}; batch ${B} × ${T} tokens; ${threads} threads`);

    const weights = randomBertWeights(shape, { seed: 1 });
    const ids = new Int32Array(tokens);
    for (let i = 0; i < tokens; i++) ids[i] = i % T === 0 ? 101 : 1000 + ((i * 7919) % (shape.vocabSize - 1000));
    const mask = new Int32Array(tokens).fill(1);
    const types = new Int32Array(tokens);

    // Baseline: onnxruntime forward on the ONNX file the builder writes from the same weights.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'synthtune-train-full-'));
    const onnxPath = path.join(dir, 'model.onnx');
    const rows: BenchRow[] = [];
    try {
      fs.writeFileSync(onnxPath, buildBertOnnx({ ...shape, pooling: 'mean' }, weights));
      const ort = await loadOrtModel(onnxPath, {
        requiredInputs: ['input_ids', 'attention_mask'], optionalInputs: ['token_type_ids'], anyOutput: ['sentence_embedding'],
      }, { threads });
      const big = (a: Int32Array) => ({ data: BigInt64Array.from(a, (v) => BigInt(v)), dims: [B, T] });
      const feeds = { input_ids: big(ids), attention_mask: big(mask), token_type_ids: big(types) };
      const base = await timed(() => ort.run(feeds, ['sentence_embedding']), budgetMs);
      await ort.release();
      log(`  ort-forward   ${base.ms.toFixed(1)} ms`);

      // Native: forward alone, then forward + backward + AdamW.
      const h = createNativeBert(nativeConfigFrom(shape, { pooling: 'mean', threads }));
      loadNativeWeights(h, weights);
      const dOut = new Float32Array(B * shape.hidden).fill(1 / (B * shape.hidden));
      const fwd = await timed(() => h.forward(ids, mask, types, B, T), budgetMs);
      log(`  full-forward  ${fwd.ms.toFixed(1)} ms`);
      let t = 0;
      const step = await timed(async () => {
        h.zeroGrad();
        await h.forward(ids, mask, types, B, T);
        await h.backward(dOut);
        h.adamStep(1e-5, 0.9, 0.999, 1e-8, 0.01, ++t, true);
      }, budgetMs);
      log(`  full-step     ${step.ms.toFixed(1)} ms (${(step.ms / base.ms).toFixed(2)}× ort-forward; target ≤ 4×)`);

      const paramBytes = 4 * h.numParams();
      const memory = {
        params_mib: mib(paramBytes),
        flat_buffers_mib: mib(4 * paramBytes),
        activations_mib: mib(h.activationBytes(B, T)),
        peak_rss_mib: mib(process.resourceUsage().maxRSS * 1024),
      };
      const shapeInfo = { layers: shape.layers, hidden: shape.hidden, heads: shape.heads, intermediate: shape.intermediate, vocab: shape.vocabSize, batch: B, seq: T };
      const row = (name: string, be: string, x: { ms: number; cpuMs: number }, extra: Record<string, unknown>): BenchRow => ({
        suite: 'train', case: name, backend: be, median_ms: round(x.ms), throughput: Math.round((tokens / x.ms) * 1e3),
        unit: 'tokens/s', speedup: round(base.ms / x.ms), baseline: 'ort-forward',
        extra: { ...shapeInfo, cpu_ms_per_call: round(x.cpuMs), ...extra, hardware: hardware() },
      });
      rows.push(row('ort-forward', 'onnxruntime-cpu', base, {}));
      rows.push(row('full-forward', 'native', fwd, { activations_mib: memory.activations_mib }));
      rows.push(row('full-step', 'native', step, { ...memory, step_over_ort_forward: round(step.ms / base.ms) }));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    return rows;
  },
};
