/**
 * Robustness suite, area 'sigkill': synthesize and fit killed with SIGKILL at seeded random points,
 * then resumed with the same arguments; the output must be byte-identical to an uninterrupted run.
 *
 * A child process (TypeScript through vite-node, test/helpers/child.ts) runs the job and prints
 * STOPPED after a seeded number of checkpoints (synthesis) or steps (fit) without pausing; the test
 * kills it with SIGKILL as soon as it reads the line, so the kill lands wherever the child has got
 * to by then (mid-batch, mid-write, between checkpoints). The resume runs in this process (the
 * killed child's lock is taken over, its temporary files removed) and is compared with a reference
 * run made here: train.jsonl and train.csv for synthesis; the student weights, the exported ONNX
 * model and the step/epoch records of logs.jsonl for fit. No lock and no temporary file may remain.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { beforeAll, describe, it } from 'vitest';
import { synthesize } from '../../lib/synthesis';
import { fitRun } from '../../lib/training/run';
import { mulberry32 } from '../../lib/util/rng';
import { ROOT, runKillable } from '../helpers/child';
import { writeMarginFixture } from '../helpers/margin-fixture';
import { scratchDirs } from '../helpers/models';
import { FakeEncoder, FakeScorer, syntheticData } from '../synthesis-fakes';
import { classifyCall, record } from './outcome';

const AREA = 'sigkill';
const KILLS = 3;
const tmp = scratchDirs('synthtune-robust-sigkill-');
const root = tmp.sync();

// the job of each child, with the same options the resume and the reference use here
const SYNTH = { nq: 40, nd: 160, seed: 5, numRelations: 5, encodeBatchSize: 16, mineBatchSize: 10, scoreBatchSize: 5, csv: true };
const FIT = { method: 'static' as const, dim: 16, epochs: 3, batchSize: 8, seed: 3, checkpointEvery: 4, holdOut: false };

const CHILD = `
import { synthesize } from ${JSON.stringify(path.join(ROOT, 'lib/synthesis/index.ts'))};
import { fitRun } from ${JSON.stringify(path.join(ROOT, 'lib/training/run.ts'))};
import { FakeEncoder, FakeScorer, syntheticData } from ${JSON.stringify(path.join(ROOT, 'test/synthesis-fakes.ts'))};
const K = Number(process.env.KILL_AFTER);
let seen = 0;
const tick = () => {
  if (++seen === K) process.stdout.write('STOPPED\\n');
};
if (process.env.JOB === 'synthesize') {
  const s = ${JSON.stringify(SYNTH)};
  const run = await synthesize({ ...syntheticData(s.nq, s.nd, s.seed), miner: new FakeEncoder(12), scorer: new FakeScorer(), numRelations: s.numRelations,
    encodeBatchSize: s.encodeBatchSize, mineBatchSize: s.mineBatchSize, scoreBatchSize: s.scoreBatchSize, csv: s.csv, out: process.env.OUT!,
    onCheckpoint: async () => {
      tick();
      await new Promise((r) => setTimeout(r, 2));
    } });
  await run.wait();
} else {
  await fitRun({ ...${JSON.stringify(FIT)}, train: process.env.TRAIN!, tokenizer: process.env.TOK!, out: process.env.OUT!, log: null,
    callbacks: [{ name: 'ticker', onStepEnd: async () => tick() }] });
}
process.stdout.write('DONE\\n');
`;

let childFile = '';
let train = '';
let tok = '';
const synthOpts = (out: string) => ({
  ...syntheticData(SYNTH.nq, SYNTH.nd, SYNTH.seed), miner: new FakeEncoder(12), scorer: new FakeScorer(), numRelations: SYNTH.numRelations,
  encodeBatchSize: SYNTH.encodeBatchSize, mineBatchSize: SYNTH.mineBatchSize, scoreBatchSize: SYNTH.scoreBatchSize, csv: SYNTH.csv, out, progress: 'none' as const,
});
const fitOpts = (out: string) => ({ ...FIT, train, tokenizer: tok, out, log: null });

const same = (a: string, b: string) => fs.existsSync(a) && fs.existsSync(b) && Buffer.compare(fs.readFileSync(a), fs.readFileSync(b)) === 0;
const noLeftovers = (dir: string) => fs.readdirSync(dir, { recursive: true }).map(String).every((f) => !f.endsWith('.tmp') && path.basename(f) !== 'lock');
const records = (out: string) => fs.readFileSync(path.join(out, 'logs.jsonl'), 'utf8').split('\n').filter((l) => /"type":"(step|epoch)"/.test(l)).join('\n');

/** KILLS distinct seeded kill points in [1, total): after that many checkpoints / steps, ascending. */
function killPoints(seed: number, total: number): number[] {
  const r = mulberry32(seed);
  const points = new Set<number>();
  while (points.size < KILLS) points.add(1 + Math.floor(r() * (total - 1)));
  return [...points].sort((a, b) => a - b);
}

beforeAll(() => {
  childFile = path.join(root, 'child.ts');
  fs.writeFileSync(childFile, CHILD);
  ({ train, tok } = writeMarginFixture(root, 120, 40, 120));
});

describe('SIGKILL at seeded random points, then resume: byte-identical output', () => {
  it('synthesize', async () => {
    const ref = path.join(root, 'synth-ref');
    await (await synthesize(synthOpts(ref))).wait();
    // checkpoints of the run: corpus and query batches, mining and scoring batches
    const total = Math.ceil(SYNTH.nd / SYNTH.encodeBatchSize) + Math.ceil(SYNTH.nq / SYNTH.encodeBatchSize) + Math.ceil(SYNTH.nq / SYNTH.mineBatchSize) + Math.ceil(SYNTH.nq / SYNTH.scoreBatchSize);
    for (const k of killPoints(15, total)) {
      const out = path.join(root, `synth-killed-${k}`);
      const child = await runKillable(childFile, { JOB: 'synthesize', OUT: out, KILL_AFTER: String(k) });
      const r = await classifyCall(async () => (await synthesize(synthOpts(out))).wait(), {
        correct: () => ['train.jsonl', 'train.csv'].every((f) => same(path.join(out, f), path.join(ref, f))) && noLeftovers(out),
      });
      record(AREA, `synthesize killed after checkpoint ${k} of ${total}${child.killed ? '' : ' (finished before the kill)'}, resumed`, r);
    }
  });

  it('fit', async () => {
    const ref = path.join(root, 'fit-ref');
    await fitRun(fitOpts(ref));
    const total = FIT.epochs * Math.ceil(120 / FIT.batchSize);
    for (const k of killPoints(16, total)) {
      const out = path.join(root, `fit-killed-${k}`);
      const child = await runKillable(childFile, { JOB: 'fit', OUT: out, KILL_AFTER: String(k), TRAIN: train, TOK: tok });
      const r = await classifyCall(() => fitRun(fitOpts(out)), {
        correct: () => ['student/weights.bin', 'model/onnx/model.onnx'].every((f) => same(path.join(out, f), path.join(ref, f))) && records(out) === records(ref) && noLeftovers(out),
      });
      record(AREA, `fit killed after step ${k} of ${total}${child.killed ? '' : ' (finished before the kill)'}, resumed`, r);
    }
  });
});
