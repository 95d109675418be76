/**
 * Finds and loads the native addon, and says which backend is active and why a better one is not.
 *
 * Order: the CUDA build (build-cuda/Release/synthtune_cuda.node, made by `npm run build:cuda`)
 * when a CUDA device is present; then the CPU addon through node-gyp-build (a local
 * build/Release first, then the prebuilt prebuilds/<platform>-<arch>/); then the pure-TypeScript
 * kernels. Every failed step leaves a reason.
 *
 * SYNTHTUNE_BACKEND=js|cpu|cuda forces a choice (auto by default); a forced backend that cannot
 * load falls back like auto does, and says so in the reasons.
 *
 * A process that ends up on the pure-TypeScript kernels without asking for them (SYNTHTUNE_BACKEND=js)
 * says so once on stderr, on the first kernel call, with the reasons and what to run; with
 * SYNTHTUNE_REQUIRE_NATIVE=1 that first call throws NativeRequiredError instead. `synthtune info`
 * reads the same choice through inspectBackend(), which neither logs nor throws.
 *
 * Prebuilt binaries (scripts/prebuildify.js, shipped in the npm package) are named
 * prebuilds/<platform>-<arch>/synthtune.napi.<glibc|musl>.node (see loadCpuAddon for musl).
 *
 * SYNTHTUNE_CUDA_ADDON=/path/to/synthtune_cuda.node loads that CUDA build instead of
 * build-cuda/Release/synthtune_cuda.node (relative paths from the working directory), e.g. the
 * CPU-emulated build of `npm run build:cuda-emu` (build-cuda-emu/synthtune_cuda.node), which reports
 * one device, "CUDA emulator (CPU)". The emulator is only ever used when named here.
 */
import { SynthtuneError } from '../util/errors';
import * as fs from 'node:fs';
import * as path from 'node:path';

/** What addon.cc exports (see native/addon.cc). */
export interface NativeAddon {
  simdLevel(): string;
  defaultThreads(): number;
  sgemmSync(transB: boolean, batch: number, m: number, n: number, k: number, alpha: number,
    a: Float32Array, b: Float32Array, beta: number, c: Float32Array, threads: number): void;
  sgemm(transB: boolean, batch: number, m: number, n: number, k: number, alpha: number,
    a: Float32Array, b: Float32Array, beta: number, c: Float32Array, threads: number): Promise<void>;
  topkSync(queries: Float32Array, corpus: Float32Array, q: number, n: number, d: number, k: number,
    exclOffsets: Int32Array | null, exclIds: Int32Array | null, outIdx: Int32Array, outScores: Float32Array,
    threads: number): void;
  topk(queries: Float32Array, corpus: Float32Array, q: number, n: number, d: number, k: number,
    exclOffsets: Int32Array | null, exclIds: Int32Array | null, outIdx: Int32Array, outScores: Float32Array,
    threads: number): Promise<void>;
  /** Training kernels (native/bindings_train.cc); absent in older builds (then ./train.ts uses the TS references). */
  embeddingBagForward?(E: Float32Array, V: number, D: number, ids: Int32Array, offsets: Int32Array, B: number,
    out: Float32Array, threads: number): void;
  embeddingBagBackward?(dOut: Float32Array, ids: Int32Array, offsets: Int32Array, B: number, D: number,
    gradE: Float32Array, V: number, threads: number): void;
  adamRows?(x: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array, width: number, rows: Int32Array | null,
    lr: number, b1: number, b2: number, eps: number, c1: number, c2: number, l2: number, decoupled: number,
    threads: number): void;
  /** Present only in the CUDA build. */
  cudaDeviceCount?(): number;
  cudaDeviceName?(device: number): string;
  cudaSgemm?(transB: boolean, batch: number, m: number, n: number, k: number, alpha: number,
    a: Float32Array, b: Float32Array, beta: number, c: Float32Array): Promise<void>;
  cudaSgemmSync?(transB: boolean, batch: number, m: number, n: number, k: number, alpha: number,
    a: Float32Array, b: Float32Array, beta: number, c: Float32Array): void;
  cudaTopk?(queries: Float32Array, corpus: Float32Array, q: number, n: number, d: number, k: number,
    exclOffsets: Int32Array | null, exclIds: Int32Array | null, outIdx: Int32Array, outScores: Float32Array): Promise<void>;
  cudaTopkSync?(queries: Float32Array, corpus: Float32Array, q: number, n: number, d: number, k: number,
    exclOffsets: Int32Array | null, exclIds: Int32Array | null, outIdx: Int32Array, outScores: Float32Array): void;
}

export type BackendName = 'cuda' | 'native-avx512' | 'native-avx2' | 'native-scalar' | 'js';

export interface BackendInfo {
  /** The implementation the kernels use now. */
  name: BackendName;
  /** SIMD level of the CPU kernels ('none' for js). */
  simd: string;
  /** Default CPU threads for native kernels. */
  threads: number;
  /** CUDA device name, when name is 'cuda'. */
  device?: string;
  /** The addon file in use: a prebuilt binary (prebuilds/), a local build, or the CUDA build. */
  file?: string;
  /** Why each better backend was not used (empty when the best one loaded). */
  reasons: string[];
}

export interface LoadedBackend {
  info: BackendInfo;
  /** The CPU addon (null when name is 'js'). With CUDA active this is the CUDA build, which has the CPU kernels too. */
  addon: NativeAddon | null;
}

/** The package root: the nearest folder above this file holding synthtune's package.json. */
export function packageRoot(): string {
  let dir = __dirname;
  for (let i = 0; i < 6; i++) {
    const pj = path.join(dir, 'package.json');
    if (fs.existsSync(pj)) {
      try {
        if (JSON.parse(fs.readFileSync(pj, 'utf8')).name === 'synthtune') return dir;
      } catch {
        /* keep looking */
      }
    }
    dir = path.dirname(dir);
  }
  return path.resolve(__dirname, '..', '..');
}

function message(e: unknown): string {
  const s = e instanceof Error ? e.message : String(e);
  return s.split('\n')[0];
}

/** Thrown by the first kernel call when SYNTHTUNE_REQUIRE_NATIVE=1 and no native backend loaded. */
export class NativeRequiredError extends SynthtuneError {
  constructor(readonly reasons: string[]) {
    super('environment', `SYNTHTUNE_REQUIRE_NATIVE=1 but the native kernels did not load: ${reasons.join('; ')}`);
    this.name = 'NativeRequiredError';
  }
}

/** What to run to get the native addon, for a consumer and in this repository. */
export const BUILD_HINT =
  'reinstall with install scripts enabled, or run `npm rebuild synthtune` (builds it with node-gyp; needs a C++17 compiler; `npm run build:native` in the synthtune repository)';

/** Whether this Linux process runs on musl (asked only after a failed load: the report costs ~15 ms). */
function isMusl(): boolean {
  if (process.platform !== 'linux') return false;
  try {
    const header = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header;
    return !!header && !header.glibcVersionRuntime;
  } catch {
    return false;
  }
}

/**
 * The CPU addon through node-gyp-build (build/Release, then prebuilds/<platform>-<arch>/), and the
 * file it came from. node-gyp-build tells musl from glibc by /etc/alpine-release alone, so on another
 * musl distribution it picks the glibc prebuild, which fails to load: then the musl one is tried.
 */
function loadCpuAddon(root: string): { addon: NativeAddon; file: string } {
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const nodeGypBuild = require('node-gyp-build') as { resolve(dir: string): string };
  let file = '';
  try {
    file = nodeGypBuild.resolve(root);
    return { addon: require(file) as NativeAddon, file };
  } catch (e) {
    const musl = path.join(root, 'prebuilds', `${process.platform}-${process.arch}`, 'synthtune.napi.musl.node');
    if (!process.env.LIBC && file !== musl && fs.existsSync(musl) && isMusl()) return { addon: require(musl) as NativeAddon, file: musl };
    throw e;
  }
}

let cached: LoadedBackend | null = null;
let forcedJs = false;
let fallbackAnnounced = false;

/**
 * The backend for a kernel call: inspectBackend()'s choice, plus the fallback policy: the
 * pure-TypeScript path taken without SYNTHTUNE_BACKEND=js is logged once on stderr, or, with
 * SYNTHTUNE_REQUIRE_NATIVE=1, is a NativeRequiredError.
 */
export function loadBackend(): LoadedBackend {
  const loaded = inspectBackend();
  if (loaded.addon || forcedJs) return loaded;
  if (process.env.SYNTHTUNE_REQUIRE_NATIVE === '1') throw new NativeRequiredError(loaded.info.reasons);
  if (!fallbackAnnounced) {
    fallbackAnnounced = true;
    process.stderr.write(
      `synthtune: native kernels unavailable, using the pure-TypeScript kernels (100-200x slower): ` +
        `${loaded.info.reasons.join('; ')}\n` +
        `synthtune: to get them, ${BUILD_HINT}; SYNTHTUNE_BACKEND=js silences this, SYNTHTUNE_REQUIRE_NATIVE=1 makes it an error\n`,
    );
  }
  return loaded;
}

/** Which backend loads and why better ones did not, without logging or throwing (`synthtune info`). */
export function inspectBackend(): LoadedBackend {
  if (cached) return cached;
  forcedJs = false;
  const want = (process.env.SYNTHTUNE_BACKEND ?? 'auto').toLowerCase();
  const reasons: string[] = [];
  const root = packageRoot();
  if (!['auto', 'js', 'cpu', 'cuda'].includes(want)) {
    reasons.push(`SYNTHTUNE_BACKEND=${want} is not one of auto|js|cpu|cuda; using auto`);
  }
  if (want === 'js') {
    reasons.push('SYNTHTUNE_BACKEND=js forces the pure-TypeScript kernels');
    forcedJs = true;
    cached = { info: { name: 'js', simd: 'none', threads: 1, reasons }, addon: null };
    return cached;
  }
  // The CUDA build also carries the CPU kernels: kept as a CPU fallback when no device is visible.
  let cudaBuild: NativeAddon | null = null;
  let cudaFile: string | undefined;
  if (want !== 'cpu') {
    const override = process.env.SYNTHTUNE_CUDA_ADDON;
    const cudaPath = override ? path.resolve(override) : path.join(root, 'build-cuda', 'Release', 'synthtune_cuda.node');
    if (!fs.existsSync(cudaPath)) {
      reasons.push(
        override
          ? `cuda: SYNTHTUNE_CUDA_ADDON=${override} does not exist`
          : 'cuda: no CUDA build (run `npm run build:cuda` where nvcc is installed)',
      );
    } else {
      try {
        const addon = require(cudaPath) as NativeAddon;
        cudaBuild = addon;
        cudaFile = cudaPath;
        const count = addon.cudaDeviceCount ? addon.cudaDeviceCount() : 0;
        if (count > 0) {
          cached = {
            info: {
              name: 'cuda',
              simd: addon.simdLevel(),
              threads: addon.defaultThreads(),
              device: addon.cudaDeviceName ? addon.cudaDeviceName(0) : 'cuda:0',
              file: cudaPath,
              reasons,
            },
            addon,
          };
          return cached;
        }
        reasons.push('cuda: CUDA build present but no CUDA device is visible');
      } catch (e) {
        reasons.push(`cuda: failed to load ${cudaPath}: ${message(e)}`);
      }
    }
  } else {
    reasons.push('SYNTHTUNE_BACKEND=cpu skips the CUDA backend');
  }
  try {
    const { addon, file } = loadCpuAddon(root);
    const simd = addon.simdLevel();
    const name = `native-${simd}` as BackendName;
    if (simd !== 'avx512' && process.arch !== 'x64') {
      reasons.push(`native-avx2/avx512: x86-64 only; ${process.arch} runs the scalar C++ kernels`);
    } else if (simd !== 'avx512') {
      reasons.push(
        simd === 'avx2'
          ? 'native-avx512: this CPU (or SYNTHTUNE_SIMD) lacks AVX-512F/BW/DQ/VL'
          : 'native-avx2: this CPU (or SYNTHTUNE_SIMD) lacks AVX2+FMA',
      );
    }
    cached = { info: { name, simd, threads: addon.defaultThreads(), file, reasons }, addon };
    return cached;
  } catch (e) {
    reasons.push(`native: addon not loaded (${message(e)}); ${BUILD_HINT}`);
  }
  if (cudaBuild) {
    const simd = cudaBuild.simdLevel();
    reasons.push('native: using the CPU kernels of the CUDA build');
    cached = { info: { name: `native-${simd}` as BackendName, simd, threads: cudaBuild.defaultThreads(), file: cudaFile, reasons }, addon: cudaBuild };
    return cached;
  }
  cached = { info: { name: 'js', simd: 'none', threads: 1, reasons }, addon: null };
  return cached;
}

/** For tests: forget the cached choice so a changed SYNTHTUNE_BACKEND is honoured. */
export function resetBackendForTests(): void {
  cached = null;
  forcedJs = false;
  fallbackAnnounced = false;
}

export interface HnswStatus {
  available: boolean;
  /** hnswlib-node's version, when its package is installed. */
  version?: string;
  /** Why it is unavailable and what to run (absent when available). */
  reason?: string;
}

/** Thrown by requireHnswlib() when hnswlib-node's native addon cannot be loaded. */
export class HnswUnavailableError extends SynthtuneError {
  constructor(reason: string) {
    super('environment', `HNSW index unavailable: ${reason}`);
    this.name = 'HnswUnavailableError';
  }
}

let hnswCached: HnswStatus | null = null;

/**
 * Whether hnswlib-node (compiled from source by its own install script, no prebuilt binary) loads.
 * Installed with --ignore-scripts it is present but unbuilt; the reason says what to run.
 */
export function hnswStatus(): HnswStatus {
  if (hnswCached) return hnswCached;
  let version: string | undefined;
  try {
    version = (require('hnswlib-node/package.json') as { version: string }).version;
  } catch {
    hnswCached = { available: false, reason: 'hnswlib-node is not installed (run `npm install hnswlib-node`); use --index exact' };
    return hnswCached;
  }
  try {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const lib = require('hnswlib-node') as { HierarchicalNSW?: unknown };
    if (typeof lib.HierarchicalNSW !== 'function') throw new Error('HierarchicalNSW is not exported');
    hnswCached = { available: true, version };
  } catch (e) {
    hnswCached = {
      available: false,
      version,
      reason:
        `hnswlib-node ${version} did not load (${message(e)}): its addon is compiled by its install script, ` +
        'which did not run (--ignore-scripts?) or failed; run `npm rebuild hnswlib-node` (needs a C++ compiler and python3), ' +
        'or mine with --index exact (the native top-k)',
    };
  }
  return hnswCached;
}

/** The resolved path of hnswlib-node for a worker to require, or a HnswUnavailableError saying what to run. */
export function hnswlibPath(): string {
  const st = hnswStatus();
  if (!st.available) throw new HnswUnavailableError(st.reason ?? 'hnswlib-node did not load');
  return require.resolve('hnswlib-node');
}
