/**
 * `synthtune info [--json]`: what this installation runs on.
 *   - the kernel backend (CUDA / native SIMD level / pure TypeScript), its threads, and why better ones were not loaded
 *   - the addon file in use (a prebuilt binary from prebuilds/, a local build, the CUDA build)
 *   - HNSW: whether hnswlib-node's addon loads, and what to run when it does not
 *   - onnxruntime: the onnxruntime-node version and folder, its execution providers, and whether
 *     the CUDA provider libraries (downloaded by its install script, skipped with
 *     ONNXRUNTIME_NODE_INSTALL=skip) are present
 * Reads the backend through inspectBackend(): never logs the fallback notice, never throws for
 * SYNTHTUNE_REQUIRE_NATIVE, so it can always say why.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { hnswStatus, inspectBackend, type BackendInfo, type HnswStatus } from '../kernels/loader';
import { parseCli } from './util';

export interface OnnxRuntimeInfo {
  /** onnxruntime-node's version, or null when the package is missing. */
  version: string | null;
  /** The package folder. */
  dir: string | null;
  /** The native binding folder for this platform (bin/napi-v6/<platform>/<arch>), when it exists. */
  bindingDir: string | null;
  /** Execution providers the loaded runtime lists ([] when it failed to load). */
  providers: string[];
  /** Whether libonnxruntime_providers_cuda.so (the optional CUDA download) is installed. */
  cudaLibraries: boolean;
  /** Why the runtime did not load (absent when it did). */
  error?: string;
}

export interface InstallInfo extends BackendInfo {
  /** Whether the native top-k screens with bf16 dot products before its exact fp32 rescoring. */
  topkBf16Screen: boolean;
  hnsw: HnswStatus;
  onnxruntime: OnnxRuntimeInfo;
}

export async function onnxRuntimeInfo(): Promise<OnnxRuntimeInfo> {
  let pkgJson: string;
  try {
    pkgJson = require.resolve('onnxruntime-node/package.json');
  } catch {
    return { version: null, dir: null, bindingDir: null, providers: [], cudaLibraries: false, error: 'onnxruntime-node is not installed' };
  }
  const dir = path.dirname(pkgJson);
  const version = (JSON.parse(fs.readFileSync(pkgJson, 'utf8')) as { version: string }).version;
  const bin = path.join(dir, 'bin', 'napi-v6', process.platform, process.arch);
  const bindingDir = fs.existsSync(bin) ? bin : null;
  const cudaLibraries = bindingDir !== null && fs.existsSync(path.join(bin, 'libonnxruntime_providers_cuda.so'));
  try {
    const { availableDevices } = await import('../models/ort.js'); // lazily: the runtime is heavy
    return { version, dir, bindingDir, providers: availableDevices(), cudaLibraries };
  } catch (e) {
    const error = (e instanceof Error ? e.message : String(e)).split('\n')[0];
    return { version, dir, bindingDir, providers: [], cudaLibraries, error };
  }
}

export async function installInfo(): Promise<InstallInfo> {
  const { info, addon } = inspectBackend();
  return {
    ...info,
    reasons: [...info.reasons],
    topkBf16Screen: info.name !== 'js' && !!(addon as { topkScreen?: () => boolean } | null)?.topkScreen?.(),
    hnsw: hnswStatus(),
    onnxruntime: await onnxRuntimeInfo(),
  };
}

export async function run(argv: string[]): Promise<number> {
  const { values } = parseCli(argv, { json: { type: 'boolean' } });
  if (values.help) {
    process.stdout.write('usage: synthtune info [--json]\n');
    return 0;
  }
  const be = await installInfo();
  if (values.json) {
    process.stdout.write(JSON.stringify(be) + '\n');
    return 0;
  }
  const out: string[] = [`backend: ${be.name}`, `simd: ${be.simd}`, `threads: ${be.threads}`];
  if (be.device) out.push(`device: ${be.device}`);
  if (be.file) out.push(`addon: ${path.relative(process.cwd(), be.file) || be.file}`);
  for (const r of be.reasons) out.push(`not used: ${r}`);
  if (be.name !== 'js') out.push(`top-k: ${be.topkBf16Screen ? 'bf16 screening (AVX512_BF16) + exact fp32 rescoring' : 'fp32'}`);
  out.push(be.hnsw.available ? `hnsw: available (hnswlib-node ${be.hnsw.version})` : `hnsw: unavailable: ${be.hnsw.reason}`);
  const ort = be.onnxruntime;
  if (!ort.version) {
    out.push(`onnxruntime: unavailable: ${ort.error}`);
  } else {
    const where = ort.bindingDir ? path.relative(process.cwd(), ort.bindingDir) || ort.bindingDir : `no binding for ${process.platform}-${process.arch}`;
    out.push(`onnxruntime: onnxruntime-node ${ort.version} (${where})`);
    out.push(ort.error ? `onnxruntime: failed to load: ${ort.error}` : `onnxruntime providers: ${ort.providers.join(', ')}`);
    out.push(
      `onnxruntime CUDA libraries: ${ort.cudaLibraries ? 'installed' : 'not installed (CPU only; its install script downloads them unless ONNXRUNTIME_NODE_INSTALL=skip)'}`,
    );
  }
  process.stdout.write(out.join('\n') + '\n');
  return 0;
}
