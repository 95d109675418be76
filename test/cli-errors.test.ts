/**
 * Bad input at the command line: each command answers with exit code 2 and one clear line that
 * names the problem (file and line, missing model files), never a stack trace, and writes no
 * half-made output folder.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from './helpers/cli';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'synthtune-cli-errors-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
const f = (name: string, text: string) => {
  const p = path.join(dir, name);
  fs.writeFileSync(p, text);
  return p;
};

const queries = f('q.txt', 'first query\nsecond query\n');
const corpus = f('c.jsonl', '{"_id":"1","text":"alpha beta"}\n{"_id":"2","text":"gamma delta"}\n{"_id":"3","text":"beta gamma"}\n');

function expectUserError(r: { code: number; err: string }, pattern: RegExp): void {
  expect(r.code).toBe(2);
  expect(r.err).toMatch(pattern);
  expect(r.err).not.toMatch(/\n\s+at /); // no stack trace
}

describe('CLI bad input', () => {
  it('an empty query file names the file', async () => {
    const out = path.join(dir, 'run-empty');
    const r = await runCli('synthesize', ['--queries', f('empty.txt', ''), '--corpus', corpus, '--miner', 'bm25', '--scorer', 'bm25', '--out', out]);
    expectUserError(r, /empty\.txt: empty file/);
    expect(fs.existsSync(path.join(out, 'train.jsonl'))).toBe(false);
  });

  it('bad JSON names the file and line', async () => {
    const bad = f('bad.jsonl', '{"_id":"1","text":"a"}\n{oops}\n');
    const r = await runCli('synthesize', ['--queries', queries, '--corpus', bad, '--miner', 'bm25', '--scorer', 'bm25', '--out', path.join(dir, 'run-bad')]);
    expectUserError(r, /bad\.jsonl:2: bad JSON/);
  });

  it('an unclosed CSV quote names the file and line', async () => {
    const bad = f('bad.csv', 'text,label\n"open,1\n');
    const r = await runCli('synthesize', ['--queries', queries, '--corpus', bad, '--miner', 'bm25', '--scorer', 'bm25', '--out', path.join(dir, 'run-csv')]);
    expectUserError(r, /bad\.csv:2: .*quote/);
  });

  it('a missing model folder is named', async () => {
    const r = await runCli('synthesize', ['--queries', queries, '--corpus', corpus, '--miner', path.join(dir, 'no-such-model'), '--scorer', 'bm25', '--num-relations', '2', '--out', path.join(dir, 'run-model')]);
    expectUserError(r, /model folder not found: .*no-such-model/);
  });

  it('a hub id offline with nothing cached lists the files to put where', async () => {
    const saved = { off: process.env.SYNTHTUNE_OFFLINE, cache: process.env.SYNTHTUNE_CACHE, hf: process.env.HF_HOME };
    process.env.SYNTHTUNE_OFFLINE = '1';
    process.env.SYNTHTUNE_CACHE = path.join(dir, 'cache');
    process.env.HF_HOME = path.join(dir, 'hf');
    try {
      const r = await runCli('synthesize', ['--queries', queries, '--corpus', corpus, '--miner', 'bm25', '--scorer', 'cross-encoder/ms-marco-MiniLM-L-6-v2', '--num-relations', '2', '--out', path.join(dir, 'run-hub')]);
      expect(r.code).toBe(2);
      expect(r.err).toMatch(/cross-encoder\/ms-marco-MiniLM-L-6-v2/);
      expect(r.err).toMatch(/tokenizer\.json/);
      expect(r.err).toMatch(/onnx\/model\.onnx/);
      expect(r.err).toContain(path.join(dir, 'cache'));
    } finally {
      for (const [k, v] of [['SYNTHTUNE_OFFLINE', saved.off], ['SYNTHTUNE_CACHE', saved.cache], ['HF_HOME', saved.hf]] as const) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  });

  it('evaluate on a missing folder names the file', async () => {
    const r = await runCli('evaluate', ['--data', path.join(dir, 'nowhere'), '--model', 'bm25']);
    expectUserError(r, /nowhere: BEIR folder not found/);
  });
});
