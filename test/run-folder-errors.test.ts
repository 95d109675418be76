/**
 * A damaged or foreign run folder gets a one-line error naming the file and the way out, exit 2
 * (issue 15: these were stack traces with exit 1).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from './helpers/cli';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'synthtune-runerr-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const cli = (args: string[]) => runCli(args[0], args.slice(1));

const corpus = path.join(tmp, 'corpus.txt');
fs.writeFileSync(corpus, Array.from({ length: 10 }, (_, i) => `document ${i} about topic ${i % 3}`).join('\n'));
const queries = path.join(tmp, 'queries.txt');
fs.writeFileSync(queries, 'topic 1\ndocument 4\n');
const args = (out: string, extra: string[] = []) => ['synthesize', '--queries', queries, '--corpus', corpus, '--miner', 'bm25', '--scorer', 'bm25', '--num-relations', '3', '--out', out, '--progress', 'none', ...extra];

describe('damaged and foreign run folders', () => {
  it('damaged config.json: exit 2 naming the file; damaged status.json: resumed from the checkpoints', async () => {
    const out = path.join(tmp, 'run');
    expect((await cli(args(out))).code).toBe(0);
    fs.writeFileSync(path.join(out, 'config.json'), '{"key": ');
    let r = await cli(args(out));
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/config\.json: damaged JSON .*; use --restart to discard it and start over, or another --out/);
    expect(r.err).not.toMatch(/\n\s+at /); // no stack trace
    fs.rmSync(out, { recursive: true });
    expect((await cli(args(out))).code).toBe(0);
    // a damaged status.json only loses the state: the run resumes from its checkpoints, same output
    const train = fs.readFileSync(path.join(out, 'train.jsonl'), 'utf8');
    fs.writeFileSync(path.join(out, 'status.json'), 'not json');
    r = await cli(args(out));
    expect(r.code).toBe(0);
    expect(fs.readFileSync(path.join(out, 'train.jsonl'), 'utf8')).toBe(train);
    expect(JSON.parse(fs.readFileSync(path.join(out, 'status.json'), 'utf8')).status).toBe('FINISHED');
  });

  it('a folder of something else, and a different synthesis: exit 2 with the way out', async () => {
    const other = path.join(tmp, 'other');
    fs.mkdirSync(other);
    fs.writeFileSync(path.join(other, 'notes.txt'), 'mine');
    let r = await cli(args(other));
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/is not empty and is not a synthesis run folder \(no config\.json\); choose another --out/);
    const out = path.join(tmp, 'run2');
    expect((await cli(args(out))).code).toBe(0);
    r = await cli(args(out, ['--num-relations', '4']));
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/config\.json: holds another synthesis run \(differs in: options \(numRelations\)\); use --restart to discard it and start over, or another --out/);
  });
});

describe('the environment refuses', () => {
  it('a read-only output folder: one line naming the path and the reason, exit 2 (not a stack trace)', async () => {
    if (process.getuid?.() === 0) {
      // root ignores permission bits: use a path under a regular file instead (ENOTDIR)
      const file = path.join(tmp, 'plain-file');
      fs.writeFileSync(file, 'x');
      const r = await cli(args(path.join(file, 'run')));
      expect(r.code).toBe(2);
      expect(r.err).toMatch(/cannot \w+ .*plain-file.*: a part of the path is not a folder \(ENOTDIR\)|not a folder|ENOTDIR|EEXIST/);
      expect(r.err).not.toMatch(/\n\s+at /);
      return;
    }
    const ro = path.join(tmp, 'ro');
    fs.mkdirSync(ro);
    fs.chmodSync(ro, 0o500);
    try {
      const r = await cli(args(path.join(ro, 'run')));
      expect(r.code).toBe(2);
      expect(r.err).toMatch(/cannot mkdir .*ro\/run: permission denied \(EACCES\)/);
    } finally {
      fs.chmodSync(ro, 0o700);
    }
  });
});

describe('input errors versus bugs', () => {
  it('synthtune\'s argument errors are marked; the runtime\'s are not; native argument errors become input errors', async () => {
    const { InputRangeError, InputTypeError, isInputError, nativeArgumentError } = await import('../lib/util/errors');
    expect(isInputError(new InputTypeError('x'))).toBe(true);
    expect(new InputTypeError('x')).toBeInstanceOf(TypeError);
    expect(new InputRangeError('x')).toBeInstanceOf(RangeError);
    expect(isInputError(new TypeError('x'))).toBe(false);
    let bug: unknown;
    try {
      (undefined as unknown as { a: number }).a;
    } catch (e) {
      bug = e;
    }
    expect(bug).toBeInstanceOf(TypeError);
    expect(isInputError(bug)).toBe(false); // a runtime TypeError stays a bug (stack trace, exit 1)
    const converted = nativeArgumentError(new RangeError('BertModel: out of memory allocating the parameter buffers'));
    expect(isInputError(converted)).toBe(true);
    expect((converted as Error).message).toBe('BertModel: out of memory allocating the parameter buffers');
    const plain = new Error('CUDA failure');
    expect(nativeArgumentError(plain)).toBe(plain);
  });

  it('a BERT config far beyond what the native core can hold is refused as an input error', async () => {
    const { createNativeBert, nativeBertAvailable } = await import('../lib/training/students/full');
    const { isInputError } = await import('../lib/util/errors');
    if (!nativeBertAvailable().ok) return; // the native core is required for this check (CI has it)
    const huge = { vocabSize: 4_000_000, hidden: 4096, layers: 48, heads: 32, intermediate: 16384, maxPosition: 512, typeVocabSize: 2, layerNormEps: 1e-12, pooling: 'mean' as const, normalize: false };
    let err: unknown;
    try {
      createNativeBert(huge);
    } catch (e) {
      err = e;
    }
    expect(err).toBeDefined();
    expect(isInputError(err)).toBe(true);
    expect((err as Error).message).toMatch(/too many parameters|GiB/);
  });
});
