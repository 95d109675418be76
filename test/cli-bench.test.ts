/** `synthtune bench --json` rows have the documented shape; `info` and bad input answer clearly. */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { main } from '../lib/cli/main';

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
  });
});
