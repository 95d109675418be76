/**
 * fit after SIGKILL (issue 15): a child process runs fitRun (static student, held-out guard on,
 * a checkpoint every 4 steps) and, at a chosen step, announces it and hangs; the test kills it
 * with SIGKILL (leaving its lock behind), then starts it again — killed once more at a later
 * step — and lets the last attempt finish. The trained weights, the exported ONNX graph and the
 * step/epoch records must equal those of an uninterrupted run byte for byte; no lock and no
 * temporary file may remain. The child runs TypeScript through vite-node (no build needed).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, runKillable } from './helpers/child';
import { writeMarginFixture } from './helpers/margin-fixture';


const CHILD = `
import { fitRun } from ${JSON.stringify(path.join(ROOT, 'lib/training/run.ts'))};
const stopAt = Number(process.env.STOP_AT || 0);
await fitRun({
  train: process.env.TRAIN!, method: 'static', tokenizer: process.env.TOK!, dim: 16, epochs: 3, batchSize: 8, seed: 3,
  out: process.env.OUT!, log: null, checkpointEvery: 4,
  callbacks: [{ name: 'stopper', onStepEnd: async (_ctx, s) => {
    if (s.step === stopAt) {
      process.stdout.write('STOPPED\\n');
      setInterval(() => undefined, 1000);
      await new Promise(() => undefined);
    }
  } }],
});
process.stdout.write('DONE\\n');
`;

let tmp: string;
let childFile: string;
let train: string;
let tok: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'fit-sigkill-'));
  childFile = path.join(tmp, 'child.ts');
  fs.writeFileSync(childFile, CHILD);
  ({ train, tok } = writeMarginFixture(tmp, 150, 50, 150));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

async function runChild(out: string, stopAt = 0): Promise<{ killed: boolean }> {
  const r = await runKillable(childFile, { OUT: out, TRAIN: train, TOK: tok, STOP_AT: String(stopAt) });
  if (!r.killed && !r.stdout.includes('DONE')) throw new Error(`child ended without DONE: ${r.stdout}`);
  return r;
}

/** The step and epoch records of logs.jsonl (messages differ: a resumed run says so). */
function records(out: string): string[] {
  return fs.readFileSync(path.join(out, 'logs.jsonl'), 'utf8').trim().split('\n').filter((l) => /"type":"(step|epoch|held-out)"/.test(l));
}

function leftovers(dir: string): string[] {
  return fs.readdirSync(dir, { recursive: true }).map(String).filter((f) => f.endsWith('.tmp') || path.basename(f) === 'lock');
}

describe('fit resumes after SIGKILL', () => {
  it('killed at steps 6 and 23 (mid-epoch, between checkpoints), then finished: identical to an uninterrupted run', async () => {
    const ref = path.join(tmp, 'ref');
    expect((await runChild(ref)).killed).toBe(false);
    const out = path.join(tmp, 'killed');
    expect((await runChild(out, 6)).killed).toBe(true);
    expect(fs.existsSync(path.join(out, 'lock'))).toBe(true); // the killed owner's lock stays behind
    expect((await runChild(out, 23)).killed).toBe(true); // taken over, resumed from step 4, killed again
    expect((await runChild(out)).killed).toBe(false);
    for (const f of ['student/weights.bin', 'model/onnx/model.onnx']) {
      expect(Buffer.compare(fs.readFileSync(path.join(out, f)), fs.readFileSync(path.join(ref, f))), f).toBe(0);
    }
    expect(records(out)).toEqual(records(ref));
    expect(records(ref).filter((l) => l.includes('"type":"step"')).length).toBeGreaterThan(30);
    expect(JSON.parse(fs.readFileSync(path.join(out, 'status.json'), 'utf8')).state).toBe('FINISHED');
    expect(leftovers(out)).toEqual([]);
  });
});
