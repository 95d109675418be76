/**
 * The loader as a consumer meets it (issue 16): without a native build the first kernel call says
 * once on stderr that it falls back to the pure-TypeScript kernels and what to run;
 * SYNTHTUNE_REQUIRE_NATIVE=1 turns that into NativeRequiredError; `synthtune info` reports the
 * addon file, HNSW and the onnxruntime-node build. A missing build is simulated with
 * SYNTHTUNE_PREBUILD (node-gyp-build's per-package override of the folder it searches) pointing at
 * an empty folder; a prebuilt binary in place of build/Release with a folder holding only prebuilds/.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { installInfo } from '../lib/cli/info';
import { matmulRef, matmulSync, topkSync } from '../lib/kernels';
import { hnswStatus, inspectBackend, NativeRequiredError, resetBackendForTests } from '../lib/kernels/loader';

const ENV = ['SYNTHTUNE_BACKEND', 'SYNTHTUNE_PREBUILD', 'SYNTHTUNE_REQUIRE_NATIVE'] as const;
const saved: Record<string, string | undefined> = {};
let empty: string;

beforeEach(() => {
  for (const k of ENV) saved[k] = process.env[k];
  empty = fs.mkdtempSync(path.join(os.tmpdir(), 'synthtune-no-addon-'));
  fs.writeFileSync(path.join(empty, 'package.json'), '{"name":"synthtune"}');
  process.env.SYNTHTUNE_BACKEND = 'cpu'; // no CUDA build in the way
  delete process.env.SYNTHTUNE_REQUIRE_NATIVE;
  resetBackendForTests();
});

afterEach(() => {
  for (const k of ENV) {
    if (saved[k] === undefined) delete process.env[k];
    else process.env[k] = saved[k];
  }
  fs.rmSync(empty, { recursive: true, force: true });
  resetBackendForTests();
  vi.restoreAllMocks();
});

function captureStderr(): string[] {
  const lines: string[] = [];
  vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
    lines.push(String(chunk));
    return true;
  });
  return lines;
}

describe('fallback to the pure-TypeScript kernels', () => {
  it('is logged once, on the first kernel call, with the reason and what to run', () => {
    process.env.SYNTHTUNE_PREBUILD = empty;
    const err = captureStderr();
    const a = new Float32Array([1, 2, 3, 4, 5, 6]);
    const b = new Float32Array([7, 8, 9, 10, 11, 12]);
    expect(err).toHaveLength(0); // nothing before first use
    const c = matmulSync(a, b, { m: 2, n: 2, k: 3 });
    expect(Array.from(c)).toEqual(Array.from(matmulRef(a, b, { m: 2, n: 2, k: 3 })));
    topkSync(new Float32Array([1, 0]), new Float32Array([0, 1, 2, 0]), { dim: 2, k: 1 });
    matmulSync(a, b, { m: 2, n: 2, k: 3 });
    const text = err.join('');
    expect(text.match(/native kernels unavailable/g)).toHaveLength(1);
    expect(text).toMatch(/No native build was found/);
    expect(text).toMatch(/npm rebuild synthtune/);
    expect(inspectBackend().info.name).toBe('js');
  });

  it('is NativeRequiredError under SYNTHTUNE_REQUIRE_NATIVE=1, while inspectBackend() still answers', () => {
    process.env.SYNTHTUNE_PREBUILD = empty;
    process.env.SYNTHTUNE_REQUIRE_NATIVE = '1';
    const err = captureStderr();
    expect(() => matmulSync(new Float32Array(1), new Float32Array(1), { m: 1, n: 1, k: 1 })).toThrow(NativeRequiredError);
    expect(() => topkSync(new Float32Array(1), new Float32Array(1), { dim: 1, k: 1 })).toThrow(/SYNTHTUNE_REQUIRE_NATIVE=1 but the native kernels did not load: .*No native build was found/);
    expect(inspectBackend().info.name).toBe('js');
    expect(err.join('')).toBe('');
  });

  it('is silent when asked for with SYNTHTUNE_BACKEND=js, even under SYNTHTUNE_REQUIRE_NATIVE=1', () => {
    process.env.SYNTHTUNE_BACKEND = 'js';
    process.env.SYNTHTUNE_REQUIRE_NATIVE = '1';
    const err = captureStderr();
    expect(Array.from(matmulSync(new Float32Array([2]), new Float32Array([3]), { m: 1, n: 1, k: 1 }))).toEqual([6]);
    expect(err.join('')).toBe('');
  });
});

describe('prebuilt binaries', () => {
  const key = `${process.platform}-${process.arch}`;
  const prebuildDir = path.join(__dirname, '..', 'prebuilds', key);
  const glibc = path.join(prebuildDir, 'synthtune.napi.glibc.node');
  // prebuilds/ is made by `npm run prebuildify` (and by `npm pack`); scripts/consumer-check.sh covers the packed case.
  it.runIf(fs.existsSync(glibc))('load from prebuilds/ when there is no build/Release, and info names the file', async () => {
    fs.mkdirSync(path.join(empty, 'prebuilds', key), { recursive: true });
    fs.copyFileSync(glibc, path.join(empty, 'prebuilds', key, path.basename(glibc)));
    process.env.SYNTHTUNE_PREBUILD = empty;
    const err = captureStderr();
    const a = Float32Array.from({ length: 7 * 5 }, (_, i) => Math.sin(i));
    const b = Float32Array.from({ length: 5 * 3 }, (_, i) => Math.cos(i));
    const got = matmulSync(a, b, { m: 7, n: 3, k: 5 });
    const want = matmulRef(a, b, { m: 7, n: 3, k: 5 });
    const diff = Math.max(...got.map((v, i) => Math.abs(v - want[i])));
    expect(diff).toBeLessThan(1e-5);
    expect(err.join('')).toBe('');
    const info = await installInfo();
    expect(info.name).toMatch(/^native-/);
    expect(info.file).toBe(path.join(empty, 'prebuilds', key, 'synthtune.napi.glibc.node'));
  });
});

describe('synthtune info', () => {
  it('reports HNSW and the onnxruntime-node build in use', async () => {
    const info = await installInfo();
    const ortVersion = (JSON.parse(fs.readFileSync(require.resolve('onnxruntime-node/package.json'), 'utf8')) as { version: string }).version;
    expect(info.onnxruntime.version).toBe(ortVersion);
    expect(info.onnxruntime.error).toBeUndefined();
    expect(info.onnxruntime.providers).toContain('cpu');
    expect(info.onnxruntime.bindingDir).toBe(path.join(path.dirname(require.resolve('onnxruntime-node/package.json')), 'bin', 'napi-v6', process.platform, process.arch));
    const hnsw = hnswStatus();
    expect(info.hnsw).toEqual(hnsw);
    // This checkout installed hnswlib-node with its install script, so its addon is built.
    expect(hnsw.available).toBe(true);
    expect(hnsw.version).toMatch(/^\d+\.\d+\.\d+/);
  });
});
