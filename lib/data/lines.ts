/**
 * Streaming line reader: the base of every file reader in lib/data.
 *
 * Files are read with fs streams in chunks and split on '\n' at the byte level (a trailing '\r'
 * is dropped), so a large file never becomes one giant string. Each line is decoded on its own
 * with TextDecoder({ fatal: true }), which turns invalid bytes into a DataError naming the exact
 * line. This byte-level split is valid for UTF-8 and every ASCII-compatible encoding; UTF-16
 * files are decoded in streaming mode instead (their errors name the first line of the chunk).
 */
import { createReadStream, statSync } from 'node:fs';
import { TextDecoder } from 'node:util';
import { DataError } from './errors';

export interface Line {
  /** 1-based physical line number. */
  no: number;
  text: string;
}

export interface LineOptions {
  /** Any encoding label TextDecoder knows (default 'utf-8'). A leading BOM is removed. */
  encoding?: string;
}

function makeDecoder(file: string, encoding: string): TextDecoder {
  try {
    return new TextDecoder(encoding, { fatal: true });
  } catch {
    throw new DataError(file, undefined, `unknown encoding '${encoding}'`);
  }
}

function openStream(file: string) {
  return createReadStream(file, { highWaterMark: 1 << 20 });
}

function decodeLine(dec: TextDecoder, bytes: Uint8Array, file: string, no: number): string {
  let end = bytes.length;
  if (end > 0 && bytes[end - 1] === 0x0d) end--;
  try {
    return dec.decode(bytes.subarray(0, end));
  } catch {
    const utf16 = no === 1 && bytes.length >= 2 && ((bytes[0] === 0xff && bytes[1] === 0xfe) || (bytes[0] === 0xfe && bytes[1] === 0xff));
    throw new DataError(file, no, utf16
      ? `the file starts with a UTF-16 byte-order mark; save it as ${dec.encoding.toUpperCase()} (or pass the encoding option)`
      : `invalid ${dec.encoding} byte sequence${dec.encoding === 'utf-8' ? ' (save the file as UTF-8, or pass the encoding option)' : ''}`);
  }
}

async function* byteSplitLines(file: string, dec: TextDecoder): AsyncGenerator<Line> {
  let carry: Buffer | null = null;
  let no = 0;
  for await (const chunk of openStream(file) as AsyncIterable<Buffer>) {
    let buf: Buffer = carry ? Buffer.concat([carry, chunk]) : chunk;
    let start = 0;
    for (let nl = buf.indexOf(0x0a, start); nl !== -1; nl = buf.indexOf(0x0a, start)) {
      yield { no: ++no, text: decodeLine(dec, buf.subarray(start, nl), file, no) };
      start = nl + 1;
    }
    carry = start < buf.length ? buf.subarray(start) : null;
    buf = Buffer.alloc(0);
  }
  if (carry) yield { no: ++no, text: decodeLine(dec, carry, file, no) };
}

async function* textSplitLines(file: string, dec: TextDecoder): AsyncGenerator<Line> {
  let carry = '';
  let no = 0;
  for await (const chunk of openStream(file) as AsyncIterable<Buffer>) {
    let text: string;
    try {
      text = carry + dec.decode(chunk, { stream: true });
    } catch {
      throw new DataError(file, no + 1, `invalid ${dec.encoding} byte sequence (at or after this line)`);
    }
    const parts = text.split('\n');
    carry = parts.pop() ?? '';
    for (const p of parts) yield { no: ++no, text: p.endsWith('\r') ? p.slice(0, -1) : p };
  }
  if (carry) yield { no: ++no, text: carry.endsWith('\r') ? carry.slice(0, -1) : carry };
}

/** Lines of a file, decoded and validated one by one. The last line needs no final newline. */
/**
 * A DataError naming the file when it is missing or a folder (Node's own EISDIR while reading
 * names no path); returns the file.
 */
export function requireDataFile(file: string): string {
  let st;
  try {
    st = statSync(file, { throwIfNoEntry: false });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOTDIR') throw e;
  }
  if (!st) throw new DataError(file, undefined, 'file not found');
  if (st.isDirectory()) throw new DataError(file, undefined, 'is a folder, a file was expected');
  return file;
}

export function readLines(file: string, opts: LineOptions = {}): AsyncGenerator<Line> {
  requireDataFile(file);
  const dec = makeDecoder(file, opts.encoding ?? 'utf-8');
  return dec.encoding.startsWith('utf-16') ? textSplitLines(file, dec) : byteSplitLines(file, dec);
}
