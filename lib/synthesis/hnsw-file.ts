/**
 * The HNSW graph file (hnswlib 0.8's saveIndex layout, inner-product space) checked before
 * hnswlib reads it, and the checksum written beside it.
 *
 * hnswlib's loadIndex checks only that the link-list sizes add up to the file size; neighbour ids,
 * levels, labels and vectors are trusted, so a damaged file crashes the process in searchKnn
 * (an id out of range) or silently returns wrong neighbours. checkHnswFile reads the file once,
 * in order, and refuses it unless every field hnswlib will follow is in range:
 *
 *   header (96 bytes, little-endian; size_t = u64):
 *     offsetLevel0 u64 = 0 | maxElements u64 = count | count u64 | sizePerElement u64 | labelOffset u64 |
 *     offsetData u64 | maxLevel i32 | enterPoint u32 | maxM u64 = M | maxM0 u64 = 2M | M u64 |
 *     mult f64 | efConstruction u64
 *   level 0, count elements of sizePerElement bytes:
 *     links: u16 n ≤ maxM0, u16 flags = 0, maxM0 × u32 ids (< count) | dim × f32 (finite) | u64 label
 *     (labels are the corpus rows: distinct, < count)
 *   upper levels, per element: u32 bytes = level × (4 + 4·maxM), then level lists of
 *     u16 n ≤ maxM, u16 flags = 0, maxM × u32 ids (< count, of elements with a level ≥ this one)
 *   nothing after; the enter point has the top level.
 *
 * Beside the file, <file>.sha256 holds its SHA-256 (sha256sum's format), written when the graph is
 * saved. A file without one (saved by an older synthtune) is checked for its layout only.
 */
import { createHash, type Hash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DataError } from '../data/errors';
import { InputRangeError } from '../util/errors';

/** A graph file that must not be read: damaged, truncated, or not the graph this run expects. */
export class HnswIndexError extends DataError {
  constructor(file: string, problem: string) {
    super(file, undefined, `${problem}. The HNSW graph (a resume checkpoint) is damaged or belongs to another run: `
      + 'delete it (the synthesis rebuilds it when resumed), or use another output folder');
  }
}

/** What the caller knows the graph must be. */
export interface HnswExpect {
  dim: number;
  /** Elements (corpus rows). */
  count?: number;
  /** hnswlib's M. */
  M?: number;
}

export interface HnswFileInfo {
  count: number;
  dim: number;
  M: number;
  maxLevel: number;
  /** Whether a checksum file was found and matched. */
  checksum: boolean;
}

const HEADER = 96;
const CHUNK = 8 << 20;

/** The checksum file of a graph file. */
export function checksumFile(file: string): string {
  return `${file}.sha256`;
}

/** SHA-256 of `src` written to checksumFile(`target`) (atomically), naming `target`. */
export async function writeHnswChecksum(src: string, target: string): Promise<void> {
  const hash = createHash('sha256');
  for await (const chunk of fs.createReadStream(src, { highWaterMark: CHUNK })) hash.update(chunk as Buffer);
  const out = checksumFile(target);
  const tmp = path.join(path.dirname(out), `.${path.basename(out)}.${process.pid}.tmp`);
  await fs.promises.writeFile(tmp, `${hash.digest('hex')}  ${path.basename(target)}\n`);
  await fs.promises.rename(tmp, out);
}

/** The expected digest from a checksum file, or null when there is none. */
function readChecksum(file: string): string | null {
  const sidecar = checksumFile(file);
  let text: string;
  try {
    text = fs.readFileSync(sidecar, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
  const m = /^([0-9a-f]{64})\s/.exec(text);
  if (!m) throw new HnswIndexError(sidecar, 'is not a SHA-256 checksum file (expected "<64 hex digits>  <file name>")');
  return m[1];
}

/**
 * Reads a file front to back through one buffer, hashing every byte. `take(n)` makes the next n
 * bytes available at `at` (4-byte aligned when the file offset is) and moves past them.
 */
class SequentialReader {
  private buf: Buffer;
  private bufStart = 0; // file offset of buf[0]
  private bufEnd = 0; // file offset after the last byte in buf
  pos = 0;
  at = 0;

  constructor(private readonly fd: number, readonly size: number, private readonly hash: Hash | null) {
    this.buf = Buffer.alloc(Math.min(CHUNK, Math.max(size, 16)));
  }

  take(n: number): Buffer {
    if (this.pos + n > this.size) throw new InputRangeError('past the end');
    if (this.pos + n > this.bufEnd) this.fill(n);
    this.at = this.pos - this.bufStart;
    this.pos += n;
    return this.buf;
  }

  private fill(n: number): void {
    const keep = this.bufEnd - this.pos;
    const shift = this.pos % 4; // keep file offsets and buffer offsets congruent mod 4
    if (shift + n > this.buf.length) {
      const bigger = Buffer.alloc(shift + n + CHUNK);
      this.buf.copy(bigger, shift, this.pos - this.bufStart, this.bufEnd - this.bufStart);
      this.buf = bigger;
    } else {
      this.buf.copy(this.buf, shift, this.pos - this.bufStart, this.bufEnd - this.bufStart);
    }
    this.bufStart = this.pos - shift;
    let end = shift + keep;
    while (this.bufStart + end < this.pos + n) {
      const want = Math.min(this.buf.length - end, this.size - (this.bufStart + end));
      const got = fs.readSync(this.fd, this.buf, end, want, this.bufStart + end);
      if (got <= 0) throw new InputRangeError('the file ended early');
      this.hash?.update(this.buf.subarray(end, end + got));
      end += got;
    }
    this.bufEnd = this.bufStart + end;
  }

  /** Hashes what is left of the file (after a structural error, nothing is needed from it). */
  finish(): void {
    if (!this.hash) return;
    let off = this.bufEnd;
    const tmp = Buffer.alloc(Math.min(CHUNK, Math.max(1, this.size - off)));
    while (off < this.size) {
      const got = fs.readSync(this.fd, tmp, 0, Math.min(tmp.length, this.size - off), off);
      if (got <= 0) break;
      this.hash.update(tmp.subarray(0, got));
      off += got;
    }
  }
}

/**
 * Checks a graph file before hnswlib reads it: its checksum (when <file>.sha256 exists) and its
 * whole layout against `expect`. Throws HnswIndexError naming the file and the first problem.
 */
export function checkHnswFile(file: string, expect: HnswExpect): HnswFileInfo {
  const digest = readChecksum(file);
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new HnswIndexError(file, 'does not exist');
    throw e;
  }
  const hash = digest === null ? null : createHash('sha256');
  try {
    const st = fs.fstatSync(fd);
    if (st.isDirectory()) throw new HnswIndexError(file, 'is a folder, not a graph file');
    if (!st.isFile()) throw new HnswIndexError(file, 'is not a regular file');
    const size = st.size;
    const r = new SequentialReader(fd, size, hash);
    let info: Omit<HnswFileInfo, 'checksum'> | undefined;
    let problem: string | undefined;
    try {
      info = walk(r, size, expect);
    } catch (e) {
      if (!(e instanceof RangeError)) throw e;
      problem = e.message === 'past the end' ? `is truncated (${size} bytes)` : e.message;
    }
    if (hash) {
      r.finish();
      if (hash.digest('hex') !== digest) {
        throw new HnswIndexError(file, `does not match its checksum (${path.basename(checksumFile(file))}): `
          + `the file changed after it was written${problem ? ` (${problem})` : ''}`);
      }
    }
    if (problem !== undefined) throw new HnswIndexError(file, problem);
    return { ...info!, checksum: digest !== null };
  } finally {
    fs.closeSync(fd);
  }
}

/** The structural pass; RangeError(message) for the first problem found. */
function walk(r: SequentialReader, size: number, expect: HnswExpect): Omit<HnswFileInfo, 'checksum'> {
  const bad = (msg: string): never => {
    throw new InputRangeError(msg);
  };
  if (size < HEADER) bad(`is ${size} bytes, shorter than the 96-byte HNSW header`);
  const h = r.take(HEADER);
  const o = r.at;
  const u64 = (at: number): number => {
    const v = h.readBigUInt64LE(o + at);
    return v > BigInt(Number.MAX_SAFE_INTEGER) ? Infinity : Number(v);
  };
  const offsetLevel0 = u64(0);
  const maxElements = u64(8);
  const count = u64(16);
  const sizePer = u64(24);
  const labelOffset = u64(32);
  const offsetData = u64(40);
  const maxLevel = h.readInt32LE(o + 48);
  const enter = h.readUInt32LE(o + 52);
  const maxM = u64(56);
  const maxM0 = u64(64);
  const M = u64(72);
  const mult = h.readDoubleLE(o + 80);
  const efC = u64(88);

  if (offsetLevel0 !== 0) bad(`header field offsetLevel0 is ${offsetLevel0}, expected 0 (not an hnswlib graph file)`);
  if (!(M >= 2 && M <= 65535) || maxM !== M || maxM0 !== 2 * M) {
    bad(`header fields M / maxM / maxM0 are ${M} / ${maxM} / ${maxM0}, expected M ≥ 2, maxM = M, maxM0 = 2M`);
  }
  if (expect.M !== undefined && M !== expect.M) bad(`was built with M = ${M}, this run uses M = ${expect.M}`);
  const links0 = 4 + 4 * maxM0;
  if (offsetData !== links0) bad(`header field offsetData is ${offsetData}, expected ${links0} for M = ${M}`);
  const dataBytes = labelOffset - offsetData;
  if (!(dataBytes > 0) || dataBytes % 4 !== 0 || sizePer !== labelOffset + 8) {
    bad(`header fields labelOffset / sizePerElement (${labelOffset} / ${sizePer}) do not describe float32 vectors`);
  }
  const dim = dataBytes / 4;
  if (dim !== expect.dim) bad(`holds vectors of dimension ${dim}, expected ${expect.dim}`);
  // buildHnsw sizes the graph for exactly the corpus (hnswlib allocates maxElements up front).
  if (maxElements !== count) bad(`header says ${count} elements in room for ${maxElements}; a synthtune graph is sized for exactly its corpus`);
  if (expect.count !== undefined && count !== expect.count) bad(`holds ${count} elements, expected ${expect.count} (the corpus size)`);
  if (count < 1) bad('holds no elements');
  if (!(maxLevel >= 0 && maxLevel <= 255)) bad(`header field maxLevel is ${maxLevel}, expected 0..255`);
  if (enter >= count) bad(`header field enterPoint is ${enter}, not one of the ${count} elements`);
  if (!(Number.isFinite(mult) && mult > 0) || !(efC >= 1)) bad('header fields mult / efConstruction are out of range');
  const minSize = HEADER + count * (sizePer + 4);
  if (size < minSize) bad(`is truncated: ${size} bytes, at least ${minSize} needed for ${count} elements`);

  // Level 0.
  const seen = new Uint8Array(count);
  for (let i = 0; i < count; i++) {
    const b = r.take(sizePer);
    const e = r.at;
    const n = b.readUInt16LE(e);
    if (b.readUInt16LE(e + 2) !== 0) bad(`element ${i}: level-0 link header has unknown flags`);
    if (n > maxM0) bad(`element ${i}: ${n} level-0 links, at most ${maxM0}`);
    const ids = new Uint32Array(b.buffer, b.byteOffset + e + 4, n);
    for (let j = 0; j < n; j++) if (ids[j] >= count) bad(`element ${i}: level-0 neighbour ${ids[j]} is not one of the ${count} elements`);
    const v = new Float32Array(b.buffer, b.byteOffset + e + offsetData, dim);
    for (let j = 0; j < dim; j++) if (!Number.isFinite(v[j])) bad(`element ${i}: vector component ${j} is ${v[j]}`);
    const label = b.readBigUInt64LE(e + labelOffset);
    if (label >= BigInt(count)) bad(`element ${i}: label ${label} is not a corpus row (< ${count})`);
    if (seen[Number(label)]) bad(`element ${i}: label ${label} appears twice`);
    seen[Number(label)] = 1;
  }

  // Upper levels: sizes first (every element's level), then the lists (ids need the levels).
  const linksUp = 4 + 4 * maxM;
  const levels = new Uint8Array(count);
  const lists: { i: number; bytes: Buffer }[] = [];
  for (let i = 0; i < count; i++) {
    const b = r.take(4);
    const bytes = b.readUInt32LE(r.at);
    if (bytes % linksUp !== 0) bad(`element ${i}: upper link lists of ${bytes} bytes, not a multiple of ${linksUp}`);
    const level = bytes / linksUp;
    if (level > maxLevel) bad(`element ${i}: level ${level} above the graph's top level ${maxLevel}`);
    levels[i] = level;
    if (bytes > 0) {
      const l = r.take(bytes);
      lists.push({ i, bytes: Buffer.from(l.subarray(r.at, r.at + bytes)) });
    }
  }
  if (r.pos !== size) bad(`has ${size - r.pos} bytes after the last link list`);
  if (levels[enter] !== maxLevel) bad(`enter point ${enter} has level ${levels[enter]}, not the top level ${maxLevel}`);
  for (const { i, bytes } of lists) {
    for (let l = 1; l <= levels[i]; l++) {
      const at = (l - 1) * linksUp;
      const n = bytes.readUInt16LE(at);
      if (bytes.readUInt16LE(at + 2) !== 0) bad(`element ${i}: level-${l} link header has unknown flags`);
      if (n > maxM) bad(`element ${i}: ${n} level-${l} links, at most ${maxM}`);
      for (let j = 0; j < n; j++) {
        const id = bytes.readUInt32LE(at + 4 + 4 * j);
        if (id >= count || levels[id] < l) bad(`element ${i}: level-${l} neighbour ${id} is not an element of level ≥ ${l}`);
      }
    }
  }
  return { count, dim, M, maxLevel };
}
