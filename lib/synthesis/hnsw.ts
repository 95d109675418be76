/**
 * HNSW mining on hnswlib-node, off the main thread.
 *
 * hnswlib-node's addPoint/searchKnn are synchronous, so the graph is built in one worker (fed
 * corpus chunks with back-pressure, so the corpus is never copied whole) and written to the run's
 * checkpoint folder atomically; a resumed run reuses it. Searches are spread over several
 * workers, each holding its own copy of the graph, each answering a contiguous slice of the
 * queries. Inner-product space: score = 1 − distance. Known positives are excluded with
 * hnswlib's filter callback (only for queries that have some).
 * The worker source is a plain JS string (eval) so it runs the same from TS sources and dist/.
 *
 * A saved graph is a resume checkpoint, and hnswlib trusts its files: a damaged one can crash the
 * process (neighbour ids out of range) or silently return wrong neighbours. So the SHA-256 of the
 * file is written beside it (<file>.sha256) when it is saved, and before hnswlib reads a graph
 * (HnswSearcher.open) the file is checked (./hnsw-file.ts): the checksum, and the whole layout
 * against the expected dimension, count and M. A bad file is an HnswIndexError naming the file
 * and the way out; hnswlib never sees it.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { hnswlibPath } from '../kernels/loader';
import { checkHnswFile, writeHnswChecksum, type HnswExpect } from './hnsw-file';
import type { Exclusions, Ranked } from './mining';
import type { VectorStore } from './store';

export { checkHnswFile, checksumFile, HnswIndexError, type HnswExpect, type HnswFileInfo } from './hnsw-file';

export interface HnswBuildOptions {
  M: number;
  efConstruction: number;
  seed: number;
}

const WORKER_SOURCE = String.raw`
const { parentPort, workerData } = require('node:worker_threads');
const { HierarchicalNSW } = require(workerData.hnswlib);
const { dim } = workerData;
const index = new HierarchicalNSW('ip', dim);
function row(v, i) { return Array.from(v.subarray(i * dim, (i + 1) * dim)); }
if (workerData.mode === 'build') {
  index.initIndex(workerData.n, workerData.M, workerData.efConstruction, workerData.seed);
  parentPort.on('message', (m) => {
    if (m.type === 'chunk') {
      const v = new Float32Array(m.vectors);
      for (let i = 0; i < v.length / dim; i++) index.addPoint(row(v, i), m.start + i);
      parentPort.postMessage({ type: 'ack', added: index.getCurrentCount() });
    } else if (m.type === 'save') {
      index.writeIndexSync(m.file);
      parentPort.postMessage({ type: 'saved' });
    }
  });
} else {
  index.readIndexSync(workerData.file);
  const n = index.getCurrentCount();
  parentPort.on('message', (m) => {
    const q = new Float32Array(m.queries);
    const rows = q.length / dim;
    const indices = new Int32Array(rows * m.k).fill(-1);
    const scores = new Float32Array(rows * m.k).fill(-Infinity);
    for (let r = 0; r < rows; r++) {
      const ex = m.exclude && m.exclude[r] ? new Set(m.exclude[r]) : null;
      const want = Math.min(m.k, n - (ex ? ex.size : 0));
      if (want <= 0) continue;
      index.setEf(Math.max(m.ef, want));
      const res = index.searchKnn(row(q, r), want, ex ? (l) => !ex.has(l) : undefined);
      const order = res.neighbors.map((d, j) => [1 - res.distances[j], d]).sort((a, b) => b[0] - a[0] || a[1] - b[1]);
      order.forEach(([s, d], j) => { indices[r * m.k + j] = d; scores[r * m.k + j] = s; });
    }
    parentPort.postMessage({ id: m.id, indices: indices.buffer, scores: scores.buffer }, [indices.buffer, scores.buffer]);
  });
}
`;

function spawn(data: Record<string, unknown>): Worker {
  return new Worker(WORKER_SOURCE, { eval: true, workerData: { ...data, hnswlib: hnswlibPath() } });
}

function nextMessage<T>(w: Worker): Promise<T> {
  return new Promise((resolve, reject) => {
    const onMsg = (m: T) => {
      w.off('error', onErr);
      resolve(m);
    };
    const onErr = (e: Error) => {
      w.off('message', onMsg);
      reject(e);
    };
    w.once('message', onMsg);
    w.once('error', onErr);
  });
}

/** Builds the graph over a store and writes it to `file` atomically. */
export async function buildHnsw(store: VectorStore, file: string, opts: HnswBuildOptions, onProgress?: (added: number) => void): Promise<void> {
  const w = spawn({ mode: 'build', dim: store.dim, n: store.n, ...opts });
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  try {
    for await (const { start, vectors } of store.chunks()) {
      for (let s = 0; s < vectors.length / store.dim; s += 4096) {
        const part = vectors.slice(s * store.dim, Math.min(vectors.length, (s + 4096) * store.dim));
        w.postMessage({ type: 'chunk', start: start + s, vectors: part.buffer }, [part.buffer]);
        const ack = await nextMessage<{ added: number }>(w); // back-pressure: one chunk in flight
        onProgress?.(ack.added);
      }
    }
    w.postMessage({ type: 'save', file: tmp });
    await nextMessage(w);
    const fh = await fs.promises.open(tmp, 'r+');
    await fh.sync();
    await fh.close();
    // The checksum goes first: a graph file present is then always beside its checksum (a run
    // killed in between has no graph yet and rebuilds it, writing the checksum again).
    await writeHnswChecksum(tmp, file);
    await fs.promises.rename(tmp, file);
  } finally {
    await w.terminate();
    await fs.promises.rm(tmp, { force: true });
  }
}

export function defaultThreads(): number {
  return Math.max(1, Math.min(8, os.availableParallelism?.() ?? os.cpus().length));
}

/** A pool of search workers over one saved graph. */
export class HnswSearcher {
  private readonly workers: Worker[];
  private nextId = 0;

  private constructor(workers: Worker[], private readonly dim: number, private readonly ef: number) {
    this.workers = workers;
  }

  /**
   * Checks the graph file (checksum, layout against `dim` and, when given, `expect.count` and
   * `expect.M`), then starts the workers. Throws HnswIndexError for a damaged or foreign file.
   */
  static open(file: string, dim: number, threads: number, ef: number, expect: Omit<HnswExpect, 'dim'> = {}): HnswSearcher {
    checkHnswFile(file, { ...expect, dim });
    const workers = Array.from({ length: Math.max(1, threads) }, () => spawn({ mode: 'search', dim, file }));
    return new HnswSearcher(workers, dim, ef);
  }

  async search(queries: Float32Array, k: number, exclude?: Exclusions): Promise<Ranked> {
    const q = queries.length / this.dim;
    const per = Math.ceil(q / this.workers.length);
    const parts = this.workers.map((w, t) => this.searchSlice(w, queries, t * per, Math.min(q, (t + 1) * per), k, exclude));
    const done = await Promise.all(parts);
    const indices = new Int32Array(q * k);
    const scores = new Float32Array(q * k);
    done.forEach((p, t) => {
      indices.set(p.indices, t * per * k);
      scores.set(p.scores, t * per * k);
    });
    return { k, indices, scores };
  }

  private async searchSlice(w: Worker, queries: Float32Array, start: number, end: number, k: number, exclude?: Exclusions) {
    if (end <= start) return { indices: new Int32Array(0), scores: new Float32Array(0) };
    const id = this.nextId++;
    const slice = queries.slice(start * this.dim, end * this.dim);
    const ex = exclude ? exclude.slice(start, end) : null;
    w.postMessage({ id, queries: slice.buffer, k, ef: this.ef, exclude: ex }, [slice.buffer]);
    const m = await nextMessage<{ indices: ArrayBuffer; scores: ArrayBuffer }>(w);
    return { indices: new Int32Array(m.indices), scores: new Float32Array(m.scores) };
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
