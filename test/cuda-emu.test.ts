/**
 * The CUDA sources on the CPU emulator of native/cuda/emu (`npm run build:cuda-emu` builds
 * build-cuda-emu/; CI does, no GPU needed):
 *   - the emulator's self-test, and deliberately broken kernels that it must report (divergent
 *     barrier, exited lane in a shuffle mask, warp divergence, deadlock, misaligned wmma pointer,
 *     and, in a sanitized build, out-of-bounds accesses found by AddressSanitizer);
 *   - every standalone check of native/cuda/tests (cuda_check, bert_layers_check, ...) run on the
 *     emulator (built with ASan + UBSan when the compiler supports it); the cheap ones also with the
 *     threads of each block run in reverse order and with 132 multiprocessors (H100 code paths);
 *   - the emulated CUDA addon (build-cuda-emu/synthtune_cuda.node): test/cuda.test.ts and
 *     test/cuda-bert.test.ts (the device-resident BERT model, training, fitRun) run with
 *     SYNTHTUNE_CUDA_ADDON pointing at it, and the backend loader picking it only when named.
 * Skips with a message when build-cuda-emu/ is absent.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadBackend, resetBackendForTests } from '../lib/kernels/loader';

const root = path.resolve(__dirname, '..');
const dir = path.join(root, 'build-cuda-emu');
const infoPath = path.join(dir, 'build-info.json');
const built = fs.existsSync(infoPath) && fs.existsSync(path.join(dir, 'emu_selftest'));
const info: { sanitize?: boolean; ok?: boolean } = built ? JSON.parse(fs.readFileSync(infoPath, 'utf8')) : {};
const addonPath = path.join(dir, 'synthtune_cuda.node');
if (!built) console.log('CUDA emulator tests skipped: no build-cuda-emu/ (run `npm run build:cuda-emu`)');

const checks = fs
  .readdirSync(path.join(root, 'native', 'cuda', 'tests'))
  .filter((f) => f.endsWith('.cu'))
  .map((f) => path.basename(f, '.cu'))
  .sort();

/**
 * Runs a program to completion without blocking the worker's event loop (a spawnSync of a minute
 * starves vitest's RPC and fails the run with "Timeout calling onTaskUpdate").
 */
function run(exe: string, args: string[] = [], env: Record<string, string> = {}, timeoutMs = 600_000) {
  return new Promise<{ status: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>((resolve, reject) => {
    const child = spawn(exe, args, { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      resolve({ status, signal, stdout, stderr });
    });
  });
}

/** The lines of a check's output that report failures, for a readable assertion message. */
function failures(out: string): string {
  return out
    .split('\n')
    .filter((l) => /FAIL|ERROR|error|emulator:/.test(l))
    .slice(0, 20)
    .join('\n');
}

describe.runIf(built)('CUDA emulator', () => {
  it('build-cuda-emu/ was built successfully', () => {
    expect(info.ok).toBe(true);
  });

  it('self-test passes', async () => {
    const r = await run(path.join(dir, 'emu_selftest'));
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/emu_selftest: all \d+ checks passed/);
  });

  const broken: Array<[string, RegExp, boolean]> = [
    ['divergent-barrier', /divergent barrier: .*__syncthreads at emu_selftest\.cu:\d+/, true],
    ['shfl-exited', /exited while lanes .* wait for it in __shfl_xor_sync/, true],
    ['warp-divergence', /warp divergence .*__shfl_xor_sync.*__ballot_sync/, true],
    ['deadlock', /deadlock: no thread of the block can proceed/, true],
    ['not-in-mask', /called by lane 16, which is not in the mask/, true],
    ['wmma-misaligned', /load_matrix_sync .* is not 256-bit \(32-byte\) aligned/, true],
    ['oob-global', /AddressSanitizer: heap-buffer-overflow/, !!info.sanitize],
    ['oob-dynamic-smem', /AddressSanitizer: heap-buffer-overflow/, !!info.sanitize],
  ];
  for (const [name, message, enabled] of broken) {
    it.runIf(enabled)(`reports a broken kernel: ${name}`, async () => {
      const r = await run(path.join(dir, 'emu_selftest'), [name], { ASAN_OPTIONS: 'detect_leaks=0' });
      expect(r.status, r.stdout).not.toBe(0);
      expect(r.stderr).toMatch(message);
      // the report names the kernel, its launch configuration and the block
      if (!name.startsWith('oob')) expect(r.stderr).toMatch(/in kernel bad_\w+ <<<\(1,1,1\), \(\d+,1,1\), \d+>>>, block \(0,0,0\)/);
    });
  }

  for (const name of checks) {
    it(`${name} passes on the emulator`, { timeout: 600_000 }, async () => {
      const exe = path.join(dir, name);
      expect(fs.existsSync(exe), `${exe} missing: rerun npm run build:cuda-emu`).toBe(true);
      const r = await run(exe);
      const out = r.stdout + r.stderr;
      expect(r.status, failures(out) || out.slice(-4000)).toBe(0);
      expect(out).not.toMatch(/^SKIP/m);
      expect(out).toMatch(/\b0 fail(ed|ure)/);
    });
  }

  // The cheap checks again, with the threads of every block in reverse order (a missing barrier
  // usually breaks one of the two orders) and with 132 multiprocessors (the H100's plans: more
  // segments, other tile choices).
  for (const name of checks.filter((c) => c !== 'cuda_check')) {
    it(`${name} passes with reverse thread order and 132 SMs`, { timeout: 600_000 }, async () => {
      const r = await run(path.join(dir, name), [], { ST_EMU_ORDER: 'reverse', ST_EMU_SM_COUNT: '132' });
      const out = r.stdout + r.stderr;
      expect(r.status, failures(out) || out.slice(-4000)).toBe(0);
      expect(out).toMatch(/\b0 fail(ed|ure)/);
    });
  }

  it('the emulated addon passes test/cuda.test.ts and test/cuda-bert.test.ts', { timeout: 600_000 }, async () => {
    const vitest = path.join(root, 'node_modules', 'vitest', 'vitest.mjs');
    const r = await run(process.execPath, [vitest, 'run', 'test/cuda.test.ts', 'test/cuda-bert.test.ts'], {
      SYNTHTUNE_CUDA_ADDON: addonPath,
      SYNTHTUNE_BACKEND: 'cuda',
      FORCE_COLOR: '0',
      NO_COLOR: '1',
    });
    const out = r.stdout + r.stderr;
    expect(r.status, out.slice(-4000)).toBe(0);
    expect(out).not.toMatch(/CUDA (BERT )?(device )?tests skipped/);
    expect(out).toMatch(/Test Files\s+2 passed/);
    expect(out).toMatch(/Tests\s+\d+ passed/);
    expect(out).not.toMatch(/\bfailed\b/);
  });

  describe('backend loader', () => {
    const saved = { addon: process.env.SYNTHTUNE_CUDA_ADDON, backend: process.env.SYNTHTUNE_BACKEND };
    afterEach(() => {
      for (const [k, v] of [
        ['SYNTHTUNE_CUDA_ADDON', saved.addon],
        ['SYNTHTUNE_BACKEND', saved.backend],
      ] as const) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
      resetBackendForTests();
    });

    it('loads the emulated build when SYNTHTUNE_CUDA_ADDON names it', () => {
      process.env.SYNTHTUNE_CUDA_ADDON = path.relative(process.cwd(), addonPath) || addonPath;
      process.env.SYNTHTUNE_BACKEND = 'cuda';
      resetBackendForTests();
      const b = loadBackend();
      expect(b.info.name).toBe('cuda');
      expect(b.info.device).toBe('CUDA emulator (CPU)');
      expect(b.addon!.cudaDeviceCount!()).toBe(1);
      const c = new Float32Array(4);
      b.addon!.cudaSgemmSync!(false, 1, 2, 2, 2, 1, new Float32Array([1, 2, 3, 4]), new Float32Array([5, 6, 7, 8]), 0, c);
      expect(Array.from(c)).toEqual([19, 22, 43, 50]);
    });

    it('never picks the emulator on its own', () => {
      delete process.env.SYNTHTUNE_CUDA_ADDON;
      resetBackendForTests();
      expect(loadBackend().info.device ?? '').not.toBe('CUDA emulator (CPU)');
    });

    it('says so when SYNTHTUNE_CUDA_ADDON names a missing file', () => {
      process.env.SYNTHTUNE_CUDA_ADDON = path.join(dir, 'no-such-addon.node');
      process.env.SYNTHTUNE_BACKEND = 'cuda';
      resetBackendForTests();
      const b = loadBackend();
      expect(b.info.name).not.toBe('cuda');
      expect(b.info.reasons.join('\n')).toMatch(/SYNTHTUNE_CUDA_ADDON=.*no-such-addon\.node does not exist/);
    });
  });
});
