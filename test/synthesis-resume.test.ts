/**
 * Resume after SIGKILL: a child process runs a synthesis and, at a chosen checkpoint, announces
 * it on stdout and hangs; the test kills it with SIGKILL, starts it again with the same
 * arguments (killing it again at a later stage), lets the last attempt finish, and compares
 * train.jsonl byte for byte with an uninterrupted run. The child runs TypeScript through
 * vite-node (a vitest dependency), so no build step is needed.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeTinyModel } from '../lib/models';
import { ROOT, runKillable } from './helpers/child';
import { syntheticData } from './synthesis-fakes';


const CHILD = `
import { synthesize } from ${JSON.stringify(path.join(ROOT, 'lib/synthesis/index.ts'))};
import { FakeEncoder, FakeScorer, syntheticData } from ${JSON.stringify(path.join(ROOT, 'test/synthesis-fakes.ts'))};
const [stopStage, stopBatch] = (process.env.STOP_AT ?? '').split('@');
const data = syntheticData(40, 200, 5);
const enc = new FakeEncoder(24);
const scorer = new FakeScorer();
const tiny = process.env.TINY_MODELS ? process.env.TINY_MODELS.split(',') : null;
const run = await synthesize({
  ...data, miner: tiny ? tiny[0] : enc, scorer: tiny ? tiny[1] : scorer, modelOptions: { threads: 1 }, numRelations: 6, out: process.env.OUT!, index: process.env.INDEX as 'exact' | 'hnsw',
  hnsw: { M: 8, efConstruction: 40, efSearch: 20, threads: 2, recallSample: 10 },
  encodeBatchSize: 16, mineBatchSize: 10, scoreBatchSize: 5, csv: true,
  onCheckpoint: async (stage, batch) => {
    if (stage === stopStage && batch === Number(stopBatch)) {
      process.stdout.write('STOPPED\\n');
      setInterval(() => undefined, 1000);
      await new Promise(() => undefined);
    }
  },
});
await run.wait();
process.stdout.write('DONE ' + JSON.stringify({ encodeCalls: enc.calls, scoreCalls: scorer.calls }) + '\\n');
`;

let tmp: string;
let childFile: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'synth-resume-'));
  childFile = path.join(tmp, 'child.ts');
  fs.writeFileSync(childFile, CHILD);
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** Runs the child; with stopAt, SIGKILLs it as soon as it reports the checkpoint. */
function runChild(out: string, index: string, stopAt?: string, tinyModels = ''): Promise<{ killed: boolean; stdout: string }> {
  return runKillable(childFile, { OUT: out, INDEX: index, STOP_AT: stopAt ?? '', TINY_MODELS: tinyModels });
}

function doneStats(stdout: string): { encodeCalls: number; scoreCalls: number } {
  return JSON.parse(stdout.slice(stdout.indexOf('DONE ') + 5));
}

describe.each(['exact', 'hnsw'])('resume after SIGKILL (%s index)', (index) => {
  it('continues from the checkpoints and writes byte-identical output', async () => {
    const ref = path.join(tmp, `ref-${index}`);
    const full = doneStats((await runChild(ref, index)).stdout);
    expect(full.encodeCalls).toBe(13 + 3);
    expect(full.scoreCalls).toBe(8);

    const out = path.join(tmp, `killed-${index}`);
    expect((await runChild(out, index, 'encode:0:corpus@4')).killed).toBe(true);
    const st = JSON.parse(fs.readFileSync(path.join(out, 'status.json'), 'utf8'));
    expect(st).toMatchObject({ status: 'STARTED', stage: 'encode' });
    expect(fs.existsSync(path.join(out, 'train.jsonl'))).toBe(false);
    const secondStop = index === 'hnsw' ? 'mine@2' : 'score@3';
    expect((await runChild(out, index, secondStop)).killed).toBe(true);
    const last = doneStats((await runChild(out, index)).stdout);
    expect(last.encodeCalls).toBe(0);
    expect(last.scoreCalls).toBe(index === 'hnsw' ? 8 : 4);

    for (const f of ['train.jsonl', 'train.csv']) expect(fs.readFileSync(path.join(out, f)).equals(fs.readFileSync(path.join(ref, f)))).toBe(true);
    const logs = fs.readFileSync(path.join(out, 'logs.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(logs.filter((l) => l.message === 'resumed synthesis from checkpoints').length).toBe(2);
    expect(JSON.parse(fs.readFileSync(path.join(out, 'status.json'), 'utf8')).status).toBe('FINISHED');
    const leftovers = fs.readdirSync(out, { recursive: true }).map(String).filter((f) => f.endsWith('.tmp') || f.endsWith('lock'));
    expect(leftovers).toEqual([]);
  });
});

describe('resume after SIGKILL with the tiny ONNX models', () => {
  it('re-encodes and re-scores only unfinished batches; output byte-identical', async () => {
    const texts = [...syntheticData(40, 200, 5).corpus.map((d) => d.text)];
    const bi = writeTinyModel(path.join(tmp, 'bi'), { texts, seed: 1, stPooling: 'mean' }).dir;
    const ce = writeTinyModel(path.join(tmp, 'ce'), { kind: 'cross-encoder', texts, seed: 2 }).dir;
    const models = `${bi},${ce}`;
    const ref = path.join(tmp, 'ref-tiny');
    await runChild(ref, 'exact', undefined, models);
    const out = path.join(tmp, 'killed-tiny');
    expect((await runChild(out, 'exact', 'encode:0:corpus@6', models)).killed).toBe(true);
    expect((await runChild(out, 'exact', 'score@2', models)).killed).toBe(true);
    await runChild(out, 'exact', undefined, models);
    for (const f of ['train.jsonl', 'train.csv']) expect(fs.readFileSync(path.join(out, f)).equals(fs.readFileSync(path.join(ref, f)))).toBe(true);
    const logs = fs.readFileSync(path.join(out, 'logs.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    const corpusEnc = logs.filter((l) => l.message === 'encoded corpus with miner 0').map((l) => l.batchesEncoded);
    // run 1 died after corpus batches 0..6; run 2 encoded the other 6 (of 13); run 3 none
    expect(corpusEnc).toEqual([6, 0]);
  });
});
