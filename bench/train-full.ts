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
 * With the CUDA backend (a CUDA build and a device): the same forward and step on the GPU, once per
 * matmul precision (backend `native-cuda-tf32`, `native-cuda-fp32`). The CPU emulator of
 * native/cuda/emu (SYNTHTUNE_CUDA_ADDON) only runs the --quick shape.
 *
 * PyTorch + sentence-transformers reference (bench/pytorch/full_step.py): the same step in PyTorch
 * on the same shape, on the GPU (fp32, tf32, bf16 autocast) with the CUDA backend, else on the CPU
 * (fp32, same thread count); rows `pytorch-forward` / `pytorch-step`, backend
 * `pytorch-<device>-<precision>`. Runs with SYNTHTUNE_BENCH_PYTHON=<python> (also in --quick), or
 * with `python3` when it can import torch and sentence_transformers (not in --quick); skipped with a
 * message otherwise. Registered in bench/index.ts as part of the `train` suite.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadOrtModel } from '../lib/models/ort';
import { buildBertOnnx, type BertConfig } from '../lib/models/onnx/bert';
import { randomBertWeights } from '../lib/models/tiny';
import { loadBackend } from '../lib/kernels/loader';
import { createNativeBert, loadNativeWeights, nativeBertAvailable, nativeConfigFrom, resolveFullDevice, type FullPrecision, type NativeBertHandle } from '../lib/training/students/full';
import { hardware, measure, type BenchRow, type Suite } from './harness';
import { referencePython, referenceScript } from './python';

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

/** Forward alone, then forward + backward + AdamW, on a native model. */
/** One training step as the bench times it: zero the gradients, forward, backward, AdamW step t. */
async function trainStep(h: NativeBertHandle, ids: Int32Array, mask: Int32Array, types: Int32Array, B: number, T: number, dOut: Float32Array, t: number): Promise<void> {
  h.zeroGrad();
  await h.forward(ids, mask, types, B, T);
  await h.backward(dOut);
  h.adamStep(1e-5, 0.9, 0.999, 1e-8, 0.01, t, true);
}

async function timeNative(h: NativeBertHandle, ids: Int32Array, mask: Int32Array, types: Int32Array, B: number, T: number, hidden: number, budgetMs: number) {
  const dOut = new Float32Array(B * hidden).fill(1 / (B * hidden));
  const fwd = await timed(() => h.forward(ids, mask, types, B, T), budgetMs);
  let t = 0;
  const step = await timed(() => trainStep(h, ids, mask, types, B, T, dOut, ++t), budgetMs);
  return { fwd, step };
}

/** The native engine's per-op timing (native/cpu/bert.h Profiler; CPU only). */
interface ProfiledHandle {
  profile?(on: boolean): boolean;
  profileReport?(): { phase: string; layer: number; op: string; calls: number; ms: number; flops: number }[];
}

/**
 * `bench train --profile`: `steps` full steps with the native per-op timer on; rows (suite
 * train-profile) per phase and op summed over layers, per phase and layer, and the time outside
 * the timed kernels (the step's wall time minus their sum: JS, argument checks, waits).
 */
async function profileStep(h: NativeBertHandle, ids: Int32Array, mask: Int32Array, types: Int32Array, B: number, T: number, hidden: number, steps: number, log: (l: string) => void): Promise<BenchRow[]> {
  const p = h as unknown as ProfiledHandle;
  if (!p.profile?.(true) || !p.profileReport) {
    log('  profile: not available on this device (CPU engine only)');
    return [];
  }
  const dOut = new Float32Array(B * hidden).fill(1 / (B * hidden));
  let wall = 0;
  for (let t = 1; t <= steps; t++) {
    const t0 = process.hrtime.bigint();
    await trainStep(h, ids, mask, types, B, T, dOut, t);
    wall += Number(process.hrtime.bigint() - t0) / 1e6;
  }
  const report = p.profileReport();
  p.profile(false);
  const stepMs = wall / steps;
  const sum = (xs: { ms: number }[]) => xs.reduce((a, x) => a + x.ms, 0);
  const group = <K extends string>(key: (r: (typeof report)[number]) => K) => {
    const m = new Map<K, { ms: number; flops: number; calls: number }>();
    for (const r of report) {
      const k = key(r);
      const g = m.get(k) ?? { ms: 0, flops: 0, calls: 0 };
      g.ms += r.ms / steps;
      g.flops += r.flops / steps;
      g.calls += r.calls / steps;
      m.set(k, g);
    }
    return [...m.entries()];
  };
  const rows: BenchRow[] = [];
  const add = (name: string, ms: number, flops: number, extra: Record<string, unknown>) => rows.push({
    suite: 'train-profile', case: name, backend: 'native', median_ms: round(ms),
    throughput: flops > 0 ? round(flops / ms / 1e6) : 0, unit: flops > 0 ? 'GFLOP/s' : '-',
    speedup: round(ms / stepMs), baseline: 'share of step', extra,
  });
  const byOp = group((r) => `${r.phase} | ${r.op}`).sort((a, b) => b[1].ms - a[1].ms);
  log(`  profile: ${steps} steps, ${stepMs.toFixed(1)} ms per step (wall); by phase and op, summed over layers:`);
  log(`    ${'phase | op'.padEnd(34)} ${'ms/step'.padStart(9)} ${'share'.padStart(6)} ${'GFLOP/s'.padStart(8)}`);
  for (const [k, g] of byOp) {
    log(`    ${k.padEnd(34)} ${g.ms.toFixed(1).padStart(9)} ${((100 * g.ms) / stepMs).toFixed(1).padStart(5)}% ${(g.flops > 0 ? (g.flops / g.ms / 1e6).toFixed(1) : '-').padStart(8)}`);
    add(k, g.ms, g.flops, { calls_per_step: g.calls });
  }
  const timed = sum(report) / steps;
  const outside = stepMs - timed;
  log(`    ${'outside the timed kernels'.padEnd(34)} ${outside.toFixed(1).padStart(9)} ${((100 * outside) / stepMs).toFixed(1).padStart(5)}%`);
  add('outside the timed kernels', outside, 0, { step_ms: round(stepMs) });
  const totalFlops = report.reduce((a, r) => a + r.flops, 0) / steps;
  log(`    GEMM + attention: ${(totalFlops / 1e9).toFixed(1)} GFLOP per step, ${(totalFlops / stepMs / 1e6).toFixed(1)} GFLOP/s over the whole step`);
  const byLayer = group((r) => `${r.phase} | ${r.layer < 0 ? 'outside layers' : `layer ${r.layer}`}`);
  log('  profile by phase and layer:');
  for (const [k, g] of byLayer) {
    log(`    ${k.padEnd(34)} ${g.ms.toFixed(1).padStart(9)} ${((100 * g.ms) / stepMs).toFixed(1).padStart(5)}% ${(g.flops > 0 ? (g.flops / g.ms / 1e6).toFixed(1) : '-').padStart(8)}`);
    add(k, g.ms, g.flops, {});
  }
  return rows;
}

interface PyRow {
  case: string;
  precision: string;
  device: string;
  device_name: string;
  median_ms: number;
  tokens_per_s: number;
  peak_mib: number | null;
  [k: string]: unknown;
}

/** Runs the PyTorch reference; resolves to its JSON rows (a failure is logged, not thrown). */
function runPyTorch(python: string, args: string[], log: (line: string) => void): Promise<PyRow[]> {
  const file = referenceScript('full_step.py');
  return new Promise((resolve) => {
    const child = spawn(python, [file, ...args, '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 15 * 60_000);
    child.on('error', (e) => {
      clearTimeout(timer);
      log(`  pytorch reference failed to start: ${e.message}`);
      resolve([]);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      const rows = out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as PyRow);
      if (code !== 0) log(`  pytorch reference exited ${code}: ${err.trim().split('\n').slice(-3).join(' | ')}`);
      resolve(rows);
    });
  });
}

export const trainFullSuite: Suite = {
  name: 'train',
  description: 'full-transformer training step (native fwd+bwd+AdamW) vs onnxruntime forward, MiniLM-sized, 32×128 tokens',
  async run({ quick, log, profile }) {
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
      const { fwd, step } = await timeNative(h, ids, mask, types, B, T, shape.hidden, budgetMs);
      log(`  full-forward  ${fwd.ms.toFixed(1)} ms`);
      log(`  full-step     ${step.ms.toFixed(1)} ms (${(step.ms / base.ms).toFixed(2)}× ort-forward; target ≤ 4×)`);
      const profiled = profile ? await profileStep(h, ids, mask, types, B, T, shape.hidden, quick ? 2 : 5, log) : [];

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
      rows.push(...profiled);

      // The same on the GPU, once per matmul precision.
      const onCuda = resolveFullDevice('auto') === 'cuda';
      const deviceName = loadBackend().info.device ?? 'cuda';
      if (onCuda && deviceName === 'CUDA emulator (CPU)' && !quick) {
        log('  cuda: the CPU emulator of the CUDA build is loaded; its rows run with --quick only');
      } else if (onCuda) {
        for (const precision of ['tf32', 'fp32'] as FullPrecision[]) {
          const d = createNativeBert(nativeConfigFrom(shape, { pooling: 'mean' }), { device: 'cuda', precision });
          loadNativeWeights(d, weights);
          const r = await timeNative(d, ids, mask, types, B, T, shape.hidden, budgetMs);
          log(`  cuda ${precision}: full-forward ${r.fwd.ms.toFixed(2)} ms, full-step ${r.step.ms.toFixed(2)} ms ` +
            `(${Math.round((tokens / r.step.ms) * 1e3)} tokens/s) on ${deviceName}`);
          const gpu = { device: deviceName, precision };
          rows.push(row('full-forward', `native-cuda-${precision}`, r.fwd, gpu));
          rows.push(row('full-step', `native-cuda-${precision}`, r.step, { ...gpu, params_mib: memory.params_mib, activations_mib: memory.activations_mib }));
        }
      }

      // PyTorch + sentence-transformers on the same shape and batch.
      const py = referencePython(['torch', 'sentence_transformers'], quick);
      if (!py.python) {
        log(`  pytorch reference skipped: ${py.why}`);
      } else {
        const pyDevice = onCuda && deviceName !== 'CUDA emulator (CPU)' ? 'cuda' : 'cpu';
        const args = [
          '--layers', String(shape.layers), '--hidden', String(shape.hidden), '--heads', String(shape.heads),
          '--intermediate', String(shape.intermediate), '--vocab', String(shape.vocabSize), '--batch', String(B), '--seq', String(T),
          '--device', pyDevice, '--precision', pyDevice === 'cuda' ? 'fp32,tf32,bf16' : 'fp32',
          '--budget-ms', String(budgetMs), ...(pyDevice === 'cpu' ? ['--threads', String(threads)] : []),
        ];
        log(`  pytorch reference: ${py.python} bench/pytorch/full_step.py ${args.join(' ')}`);
        // Rounds, alternating sides (a machine's load drifts, and PyTorch's times move by up to a
        // quarter between runs): the native CPU forward and step (first round: the timings above),
        // then PyTorch; each side's rows keep its best round, and the per-round ratios are recorded.
        const rounds = pyDevice === 'cpu' && !quick ? 2 : 1;
        const nativeRounds: { fwd: number[]; step: number[] } = { fwd: [fwd.ms], step: [step.ms] };
        const pyRounds = new Map<string, PyRow[]>();
        for (let k = 0; k < rounds; k++) {
          if (k > 0) {
            const again = await timeNative(h, ids, mask, types, B, T, shape.hidden, budgetMs);
            nativeRounds.fwd.push(again.fwd.ms);
            nativeRounds.step.push(again.step.ms);
            log(`  round ${k + 1}: full-forward ${again.fwd.ms.toFixed(1)} ms, full-step ${again.step.ms.toFixed(1)} ms`);
          }
          for (const r of await runPyTorch(py.python, args, log)) {
            log(`  ${k > 0 ? `round ${k + 1}: ` : ''}${r.case.padEnd(16)} ${r.device}-${r.precision} ${r.median_ms.toFixed(2)} ms (${r.tokens_per_s} tokens/s)`);
            const key = `${r.case}|pytorch-${r.device}-${r.precision}`;
            pyRounds.set(key, [...(pyRounds.get(key) ?? []), r]);
          }
        }
        for (const [key, rs] of pyRounds) {
          const best = rs.reduce((a, b) => (b.median_ms < a.median_ms ? b : a));
          rows.push(row(best.case, key.split('|')[1], { ms: best.median_ms, cpuMs: NaN }, {
            device: best.device_name, peak_mib: best.peak_mib, torch: best.torch, sentence_transformers: best.sentence_transformers,
            ...(rs.length > 1 ? { rounds_ms: rs.map((r) => round(r.median_ms)) } : {}),
          }));
        }
        if (rounds > 1) {  // the native CPU rows: best round (their first round was timed above)
          for (const [name, times] of [['full-forward', nativeRounds.fwd], ['full-step', nativeRounds.step]] as const) {
            const nat = rows.find((x) => x.case === name && x.backend === 'native')!;
            nat.median_ms = round(Math.min(...times));
            nat.throughput = Math.round((tokens / Math.min(...times)) * 1e3);
            nat.speedup = round(base.ms / Math.min(...times));
            nat.extra = { ...(nat.extra ?? {}), rounds_ms: times.map(round) };
          }
        }
        // the native rows' speed relative to PyTorch on the same device and precision (> 1: native is
        // faster), best round against best round, and round by round where there were several
        // (full_step.py names its cases pytorch-forward / pytorch-step)
        for (const nat of rows.filter((x) => x.suite === 'train' && /^full-/.test(x.case) && (x.backend === 'native' || x.backend.startsWith('native-cuda')))) {
          const dev = nat.backend.startsWith('native-cuda') ? `pytorch-cuda-${nat.backend.split('-').pop()}` : 'pytorch-cpu-fp32';
          const ref = rows.find((x) => x.case === nat.case.replace(/^full-/, 'pytorch-') && x.backend === dev);
          if (!ref) continue;
          nat.extra = { ...(nat.extra ?? {}), vs_pytorch: `${(ref.median_ms / nat.median_ms).toFixed(2)}x` };
          const a = nat.extra.rounds_ms as number[] | undefined;
          const b = ref.extra?.rounds_ms as number[] | undefined;
          if (a && b && a.length === b.length) nat.extra.vs_pytorch_by_round = a.map((x, i) => `${(b[i] / x).toFixed(2)}x`).join(' ');
        }
        const stepRow = rows.find((x) => x.case === 'full-step' && x.backend === 'native');
        if (stepRow?.extra?.vs_pytorch) log(`  full step vs PyTorch CPU (best of ${rounds} round(s) per side): ${String(stepRow.extra.vs_pytorch)}` +
          (stepRow.extra.vs_pytorch_by_round ? `; by round ${String(stepRow.extra.vs_pytorch_by_round)}` : ''));
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    return rows;
  },
};
