/**
 * The only module that imports onnxruntime-node. Everything else talks to the small `OrtModel`
 * interface below: typed arrays in, typed arrays out, input/output names checked at load time.
 *
 * Why one module: the runtime is heavy to load (the CLI loads it lazily), its API changes between
 * versions, and a clear error for a bad graph belongs in one place.
 */
import * as fs from 'node:fs';
import * as ort from 'onnxruntime-node';
import { ModelError } from './errors';
import { InputTypeError } from '../util/errors';

export type Device = 'cpu' | 'cuda';

export interface SessionOptions {
  /** Threads for one operator (intra-op). Default: onnxruntime's default (physical cores). */
  threads?: number;
  /** Execution provider. 'cuda' needs an onnxruntime-node build with the CUDA EP. Default 'cpu'. */
  device?: Device;
  /** Graph optimisation level. Default 'all'. */
  optimization?: 'disabled' | 'basic' | 'extended' | 'all';
}

/** What a model must / may take and give; checked when the session is created. */
export interface IoSpec {
  /** Inputs the caller always feeds; the graph must declare each one. */
  requiredInputs: string[];
  /** Inputs the caller can feed when the graph declares them (e.g. token_type_ids). */
  optionalInputs?: string[];
  /** Further inputs the caller can feed, by name pattern (e.g. past_key_values.{i}.decoder.key of any layer count). */
  optionalInputPattern?: RegExp;
  /** At least one of these outputs must exist. */
  anyOutput: string[];
}

export interface FeedTensor {
  /** int64, float32, int32, or bool (a Uint8Array of 0/1, e.g. optimum's use_cache_branch). */
  data: BigInt64Array | Float32Array | Int32Array | Uint8Array;
  dims: number[];
}
export interface OutTensor {
  data: Float32Array;
  dims: number[];
}

export interface OrtModel {
  readonly path: string;
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  readonly device: Device;
  /** Runs the graph; returns the requested float outputs (all when `outputs` is omitted). */
  run(feeds: Record<string, FeedTensor>, outputs?: string[]): Promise<Record<string, OutTensor>>;
  release(): Promise<void>;
}

/** Execution providers this onnxruntime-node build supports (e.g. ['cpu'] or ['cpu', 'cuda']). */
export function availableDevices(): string[] {
  try {
    return ort.listSupportedBackends().map((b) => b.name);
  } catch {
    return ['cpu'];
  }
}

function checkIo(modelPath: string, inputs: readonly string[], outputs: readonly string[], spec: IoSpec): void {
  const known = new Set([...spec.requiredInputs, ...(spec.optionalInputs ?? [])]);
  const missing = spec.requiredInputs.filter((n) => !inputs.includes(n));
  const unexpected = inputs.filter((n) => !known.has(n) && !spec.optionalInputPattern?.test(n));
  const problems: string[] = [];
  if (missing.length) problems.push(`missing input(s) ${missing.map((n) => `'${n}'`).join(', ')}`);
  if (unexpected.length) problems.push(`unexpected input(s) ${unexpected.map((n) => `'${n}'`).join(', ')}`);
  if (!spec.anyOutput.some((n) => outputs.includes(n))) {
    problems.push(`none of the outputs ${spec.anyOutput.map((n) => `'${n}'`).join(' / ')}`);
  }
  if (problems.length) {
    throw new ModelError(
      `ONNX model ${modelPath} does not fit: ${problems.join('; ')}. ` +
        `The graph has inputs [${inputs.join(', ')}] and outputs [${outputs.join(', ')}]; ` +
        `expected inputs [${[...known].join(', ')}] (${spec.requiredInputs.join(', ')} required) and an output among [${spec.anyOutput.join(', ')}].`,
    );
  }
}

/**
 * onnxruntime's message as one line: its C++ errors span lines and open with the source file and
 * function that raised them ("/onnxruntime_src/...model.cc:146 onnxruntime::Model::Model(...) ModelProto
 * does not have a graph."), which say nothing to the user; the sentence after them does.
 */
function oneLine(e: unknown): string {
  const text = (e instanceof Error ? e.message : String(e)).split('\n').map((l) => l.trim()).filter(Boolean).join(' ');
  return text.replace(/\s*\/\S+\.(cc|cpp|h):\d+ \S+\(.*?\) (?=[A-Z])/g, ' ').trim();
}

/** Loads an .onnx file into a session and checks its inputs and outputs against `io`. */
export async function loadOrtModel(modelPath: string, io: IoSpec, opts: SessionOptions = {}): Promise<OrtModel> {
  if (!fs.existsSync(modelPath)) throw new ModelError(`ONNX model file not found: ${modelPath}`);
  const device = opts.device ?? 'cpu';
  if (device !== 'cpu' && device !== 'cuda') throw new InputTypeError(`device must be 'cpu' or 'cuda', got '${String(device)}'`);
  if (opts.threads !== undefined && !(Number.isInteger(opts.threads) && opts.threads >= 1)) {
    throw new InputTypeError(`threads must be a positive integer, got ${opts.threads}`);
  }
  if (device === 'cuda' && !availableDevices().includes('cuda')) {
    throw new ModelError(`device 'cuda' requested but this onnxruntime-node build supports only [${availableDevices().join(', ')}]; use device 'cpu'`);
  }
  const sessionOptions: ort.InferenceSession.SessionOptions = {
    executionProviders: [device], // onnxruntime places nodes the CUDA EP lacks on the CPU itself
    graphOptimizationLevel: opts.optimization ?? 'all',
    interOpNumThreads: 1,
    executionMode: 'sequential',
  };
  if (opts.threads) sessionOptions.intraOpNumThreads = opts.threads;
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(modelPath, sessionOptions);
  } catch (e) {
    const msg = oneLine(e);
    if (device === 'cuda') {
      throw new ModelError(
        `could not create a CUDA session for ${modelPath}: ${msg}. The CUDA execution provider libraries ` +
          `(libonnxruntime_providers_cuda, CUDA 12 + cuDNN 9) must be installed for onnxruntime-node ` +
          `(reinstall it without ONNXRUNTIME_NODE_INSTALL=skip / onnxruntime-node-install=skip), or use device 'cpu'.`,
      );
    }
    throw new ModelError(`could not load ONNX model ${modelPath}: ${msg}`);
  }
  try {
    checkIo(modelPath, session.inputNames, session.outputNames, io);
  } catch (e) {
    await session.release();
    throw e;
  }

  return {
    path: modelPath,
    inputNames: session.inputNames,
    outputNames: session.outputNames,
    device,
    async run(feeds, outputs) {
      const ortFeeds: Record<string, ort.Tensor> = {};
      for (const [name, t] of Object.entries(feeds)) {
        if (!session.inputNames.includes(name)) continue; // e.g. token_type_ids for a model without them
        const type = t.data instanceof BigInt64Array ? 'int64' : t.data instanceof Int32Array ? 'int32' : t.data instanceof Uint8Array ? 'bool' : 'float32';
        ortFeeds[name] = new ort.Tensor(type, t.data, t.dims);
      }
      let result: ort.InferenceSession.ReturnType;
      try {
        result = outputs ? await session.run(ortFeeds, outputs) : await session.run(ortFeeds);
      } catch (e) {
        const shapes = Object.entries(ortFeeds).map(([n, t]) => `${n} ${t.type}[${t.dims.join(', ')}]`).join(', ');
        throw new ModelError(`onnxruntime failed running ${modelPath} on ${shapes}: ${oneLine(e)}`);
      }
      const out: Record<string, OutTensor> = {};
      for (const [name, v] of Object.entries(result)) {
        const t = v as ort.Tensor;
        if (t.type !== 'float32') throw new ModelError(`ONNX model ${modelPath}: output '${name}' is ${t.type}, expected float32`);
        out[name] = { data: t.data as Float32Array, dims: [...t.dims] };
      }
      return out;
    },
    async release() {
      await session.release();
    },
  };
}
