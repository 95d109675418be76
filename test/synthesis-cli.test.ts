/**
 * `synthtune synthesize` end to end, in process: a BEIR folder with --query-split (only the split's
 * queries are used), BM25 and a tiny ONNX bi-encoder as miners, file inputs, and exit codes for
 * bad arguments.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeTinyModel } from '../lib/models';
import { exportQuantized } from '../lib/training/export';
import { encodeSafetensors } from '../lib/models/import';
import { nativeBertAvailable } from '../lib/training/students/full';
import { syntheticData } from './synthesis-fakes';
import { runCli } from './helpers/cli';

let tmp: string;
let beir: string;
const data = syntheticData(10, 30, 11);

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'synth-cli-'));
  beir = path.join(tmp, 'beir');
  fs.mkdirSync(path.join(beir, 'qrels'), { recursive: true });
  fs.writeFileSync(path.join(beir, 'corpus.jsonl'), data.corpus.map((d) => JSON.stringify({ _id: d.id, title: '', text: d.text })).join('\n'));
  fs.writeFileSync(path.join(beir, 'queries.jsonl'), data.queries.map((q) => JSON.stringify({ _id: q.id, text: q.text })).join('\n'));
  fs.writeFileSync(path.join(beir, 'qrels', 'train.tsv'), 'query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\t1\nq3\td3\t1\n');
  fs.writeFileSync(path.join(tmp, 'queries.txt'), data.queries.map((q) => q.text).join('\n'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const cli = (args: string[]) => runCli('synthesize', args);

describe('synthtune synthesize', () => {
  it('BEIR folder with --query-split, bm25 miner and scorer', async () => {
    const out = path.join(tmp, 'run-bm25');
    const r = await cli(['--queries', beir, '--query-split', 'train', '--corpus', beir, '--miner', 'bm25', '--scorer', 'bm25', '--num-relations', '4', '--out', out, '--progress', 'none', '--json', '--csv']);
    expect(r.code).toBe(0);
    const status = JSON.parse(r.out);
    expect(status).toMatchObject({ status: 'FINISHED', examples: 9 });
    const lines = fs.readFileSync(path.join(out, 'train.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(new Set(lines.map((l) => l.qid))).toEqual(new Set(['q1', 'q2', 'q3']));
    expect(fs.existsSync(path.join(out, 'train.csv'))).toBe(true);
  });

  it('--quantized mines with the int8 graph: refused without one, part of the model identity (a resume without it is another run)', async () => {
    const model = writeTinyModel(path.join(tmp, 'bi-q'), { texts: data.corpus.map((d) => d.text), seed: 5 }).dir;
    const args = (out: string, extra: string[] = []) => ['--queries', path.join(tmp, 'queries.txt'), '--corpus', beir, '--miner', model, '--scorer', 'bm25', '--num-relations', '3', '--out', out, '--progress', 'none', ...extra];
    const none = await cli(args(path.join(tmp, 'run-q0'), ['--quantized']));
    expect(none.code).toBe(2);
    expect(none.err).toMatch(/--quantized: .*bi-q has no onnx\/model_quantized\.onnx/);
    await exportQuantized(model);
    const out = path.join(tmp, 'run-q');
    const q = await cli(args(out, ['--quantized']));
    expect(q.code, q.err).toBe(0);
    const cfg = JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8'));
    expect(JSON.stringify(cfg.models)).toMatch(/#quantized/);
    const f32 = await cli(args(out));
    expect(f32.code).toBe(2);
    expect(f32.err).toMatch(/differs in: .*model/);
  });

  it.skipIf(!nativeBertAvailable().ok)('--miner-backend native (and auto) mines with the folder\'s model.safetensors: the same examples as the graph, another model identity', async () => {
    const tiny = writeTinyModel(path.join(tmp, 'bi-n'), { texts: data.corpus.map((d) => d.text), seed: 6 });
    fs.writeFileSync(path.join(tiny.dir, 'model.safetensors'), encodeSafetensors(tiny.weights, { format: 'pt' }));
    const args = (out: string, extra: string[] = []) => ['--queries', path.join(tmp, 'queries.txt'), '--corpus', beir, '--miner', tiny.dir, '--scorer', 'bm25', '--num-relations', '3', '--out', out, '--progress', 'none', ...extra];
    const a = await cli(args(path.join(tmp, 'run-n-ort'), ['--miner-backend', 'onnxruntime']));
    const b = await cli(args(path.join(tmp, 'run-n-native'), ['--miner-backend', 'native']));
    expect(a.code, a.err).toBe(0);
    expect(b.code, b.err).toBe(0);
    const rows = (d: string) => fs.readFileSync(path.join(tmp, d, 'train.jsonl'), 'utf8');
    expect(rows('run-n-native')).toBe(rows('run-n-ort'));
    const id = (d: string) => JSON.stringify(JSON.parse(fs.readFileSync(path.join(tmp, d, 'config.json'), 'utf8')).models.miners);
    expect(id('run-n-native')).not.toBe(id('run-n-ort'));
    // auto runs such a folder natively: the same run as --miner-backend native
    const auto = await cli(args(path.join(tmp, 'run-n-native')));
    expect(auto.code, auto.err).toBe(0);
    const bad = await cli(args(path.join(tmp, 'run-n-bad'), ['--miner-backend', 'gpu']));
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/--miner-backend must be auto, onnxruntime, native, got 'gpu'/);
  });

  it('text-file queries, a tiny ONNX miner merged with bm25, plain progress lines', async () => {
    const model = writeTinyModel(path.join(tmp, 'bi'), { texts: data.corpus.map((d) => d.text), seed: 4 }).dir;
    const out = path.join(tmp, 'run-model');
    const r = await cli(['--queries', path.join(tmp, 'queries.txt'), '--corpus', beir, '--miner', model, '--miner', 'bm25', '--scorer', 'bm25', '--num-relations', '3', '--out', out, '--progress', 'lines']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^20 examples → /);
    expect(r.err).toMatch(/synthesize: encode corpus 30\/30/);
  });

  it('bad arguments exit with code 2 and a clear message', async () => {
    const base = ['--queries', beir, '--corpus', beir, '--miner', 'bm25', '--scorer', 'bm25', '--out', path.join(tmp, 'bad'), '--progress', 'none'];
    expect((await cli([...base, '--num-relations', '1'])).err).toMatch(/--num-relations must be an integer ≥ 2/);
    const big = await cli([...base, '--num-relations', '31']);
    expect(big.code).toBe(2);
    expect(big.err).toMatch(/numRelations \(31\) exceeds the corpus size \(30 documents\)/);
    const noSplit = await cli([...base, '--query-split', 'dev']);
    expect(noSplit.code).toBe(2);
    expect(noSplit.err).toMatch(/dev\.tsv: file not found/);
    expect((await cli(['--corpus', beir])).err).toMatch(/--queries is required/);
  });
});
