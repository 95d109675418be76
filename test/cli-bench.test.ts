/** `synthtune bench --json` rows have the documented shape; `info` and bad input answer clearly. */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { main } from '../lib/cli/main';
import { loadBackend } from '../lib/kernels/loader';

function capture() {
  let out = '';
  let err = '';
  vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => {
    out += String(s);
    return true;
  });
  vi.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => {
    err += String(s);
    return true;
  });
  return { out: () => out, err: () => err };
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('synthtune bench', () => {
  it('--json prints one array of rows with suite, case, backend, median_ms, throughput, unit, speedup, baseline', async () => {
    const io = capture();
    const code = await main(['bench', 'kernels', '--quick', '--json']);
    vi.restoreAllMocks();
    expect(code).toBe(0);
    const rows = JSON.parse(io.out());
    expect(Array.isArray(rows)).toBe(true);
    expect(rows.length).toBeGreaterThanOrEqual(2);
    for (const r of rows) {
      expect(r.suite).toBe('kernels');
      expect(typeof r.case).toBe('string');
      expect(typeof r.backend).toBe('string');
      expect(r.median_ms).toBeGreaterThan(0);
      expect(r.throughput).toBeGreaterThan(0);
      expect(typeof r.unit).toBe('string');
      expect(r.baseline).toBe('js');
      expect(r.speedup).toBeGreaterThan(0);
    }
    // the baseline row of every case has speedup 1
    for (const r of rows.filter((x: { backend: string }) => x.backend === 'js')) expect(r.speedup).toBe(1);
    // speedup is the baseline's median over the row's
    const cases = new Set(rows.map((r: { case: string }) => r.case));
    for (const c of cases) {
      const js = rows.find((r: { case: string; backend: string }) => r.case === c && r.backend === 'js');
      for (const r of rows.filter((x: { case: string }) => x.case === c)) {
        // both medians are rounded to 3 decimals in the output: compare relatively
        const ratio = js.median_ms / r.median_ms;
        expect(Math.abs(r.speedup - ratio) / ratio).toBeLessThan(0.02);
      }
    }
  });

  it('train --profile: the native step by phase and op (GEMM GFLOP/s), by layer, and the time outside the kernels', async () => {
    const io = capture();
    const code = await main(['bench', 'train', '--quick', '--profile', '--json']);
    vi.restoreAllMocks();
    expect(code).toBe(0);
    const rows = JSON.parse(io.out()) as { suite: string; case: string; median_ms: number; throughput: number; unit: string; speedup: number; extra?: Record<string, number> }[];
    const prof = rows.filter((r) => r.suite === 'train-profile');
    const byOp = prof.filter((r) => / \| (?!layer \d|outside layers)/.test(r.case));
    // every GEMM of both phases, attention, the elementwise kernels and Adam are timed
    for (const op of ['forward | qkv matmul', 'forward | fc1 matmul', 'forward | attention', 'backward | fc2 matmul', 'backward | attention', 'forward | layernorm', 'backward | gelu', 'optimizer | adam']) {
      const r = byOp.find((x) => x.case === op);
      expect(r, op).toBeDefined();
      expect(r!.median_ms).toBeGreaterThan(0);
      if (/matmul|attention/.test(op)) expect(r!.unit).toBe('GFLOP/s');
    }
    // GFLOP/s of a GEMM = its FLOPs / its time: 2·N·C·3C per forward qkv (--quick shape: 2 layers, hidden 128, batch 4 × 32)
    const qkv = byOp.find((x) => x.case === 'forward | qkv matmul')!;
    const flops = 2 * 2 * (4 * 32) * 128 * 3 * 128;
    expect(Math.abs(qkv.throughput - flops / qkv.median_ms / 1e6) / qkv.throughput).toBeLessThan(0.02);
    // the ops' shares of the step plus the time outside them make the whole step
    const outside = prof.find((r) => r.case === 'outside the timed kernels')!;
    const total = byOp.reduce((a, r) => a + r.median_ms, 0) + outside.median_ms;
    expect(Math.abs(total - outside.extra!.step_ms) / outside.extra!.step_ms).toBeLessThan(0.02);
    // per layer: two layers in each phase
    expect(prof.filter((r) => /^forward \| layer \d$/.test(r.case))).toHaveLength(2);
    expect(prof.filter((r) => /^backward \| layer \d$/.test(r.case))).toHaveLength(2);
  });

  it('--profile is refused without the train suite', async () => {
    const io = capture();
    const code = await main(['bench', 'kernels', '--profile']);
    vi.restoreAllMocks();
    expect(code).toBe(2);
    expect(io.err()).toMatch(/--profile is for the train suite/);
  });

  it('prints tables with the hardware without --json', async () => {
    const io = capture();
    const code = await main(['bench', 'kernels', '--quick']);
    vi.restoreAllMocks();
    expect(code).toBe(0);
    expect(io.out()).toMatch(/^hardware: .* cores/m);
    expect(io.out()).toMatch(/== kernels ==/);
    expect(io.out()).toMatch(/GFLOP\/s/);
  });

  it('rejects an unknown suite and unknown options', async () => {
    const io = capture();
    expect(await main(['bench', 'nope'])).toBe(2);
    expect(await main(['bench', '--bogus'])).toBe(2);
    expect(await main(['frobnicate'])).toBe(2);
    vi.restoreAllMocks();
    expect(io.err()).toMatch(/unknown bench suite 'nope'/);
    expect(io.err()).toMatch(/Unknown option '--bogus'/);
    expect(io.err()).toMatch(/unknown command 'frobnicate'/);
  });

  it('info --json names the backend', async () => {
    const io = capture();
    expect(await main(['info', '--json'])).toBe(0);
    vi.restoreAllMocks();
    const info = JSON.parse(io.out());
    expect(typeof info.name).toBe('string');
    expect(Array.isArray(info.reasons)).toBe(true);
    // the top-k screening flag is the addon's own answer (false on the pure-TS backend)
    const addon = loadBackend().addon as { topkScreen?: () => boolean } | null;
    expect(info.topkBf16Screen).toBe(info.name !== 'js' && !!addon?.topkScreen?.());
  });
});
