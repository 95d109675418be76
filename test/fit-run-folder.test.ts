/**
 * fit's run folder (issue 15): a checkpoint resumes only the same run (same data and starting
 * model, not just the same margins), one process per folder (a live owner is refused, a dead one's
 * lock taken over), and the temporary files of killed writers are removed.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { writeWordPieceTokenizer } from '../lib/models/wordpiece';
import { fitRun } from '../lib/training/run';
import { FolderInUseError, lockFolder, removeStaleTemps } from '../lib/util/folder-lock';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'synthtune-fitfolder-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const rows = (word: string) => Array.from({ length: 24 }, (_, i) => ({
  query: `${word} query ${i}`, positive: `${word} document about ${i}`, negative: `other text ${i % 5}`, margin: 1 + (i % 3),
}));

function write(name: string, data: object[]): string {
  const f = path.join(tmp, name);
  fs.writeFileSync(f, data.map((r) => JSON.stringify(r)).join('\n'));
  return f;
}

const tokDir = path.join(tmp, 'tok');
writeWordPieceTokenizer(tokDir, [...rows('alpha'), ...rows('beta')].flatMap((r) => [r.query, r.positive, r.negative]), { vocabSize: 120 });

const opts = { method: 'static' as const, tokenizer: tokDir, dim: 8, epochs: 2, log: null };

describe('fit run folder', () => {
  it('other training texts with the same margins: the checkpoint is refused, not resumed', async () => {
    const out = path.join(tmp, 'texts');
    const a = await fitRun({ ...opts, train: write('a.jsonl', rows('alpha')), out });
    expect(a.status).toBe('finished');
    // the same run again resumes its finished checkpoint: same weights
    const again = await fitRun({ ...opts, train: path.join(tmp, 'a.jsonl'), out });
    expect(again.resumedFrom).toEqual({ epoch: 2, step: a.steps });
    // same count, same margins, other texts
    await expect(fitRun({ ...opts, train: write('b.jsonl', rows('beta')), out })).rejects.toThrow(/checkpoint\.bin: holds another fit run \(differs in: data;.*\); use --restart/);
    // --restart (resume: false) trains the new data
    const b = await fitRun({ ...opts, train: path.join(tmp, 'b.jsonl'), out, resume: false });
    expect(b.resumedFrom).toBeNull();
  });

  it('another starting model (a different seed of the static table) is another run', async () => {
    const out = path.join(tmp, 'seed');
    await fitRun({ ...opts, train: write('c.jsonl', rows('alpha')), out, holdOut: false });
    await expect(fitRun({ ...opts, train: path.join(tmp, 'c.jsonl'), out, init: 'random', holdOut: false })).rejects.toThrow(/checkpoint\.bin: holds another fit run \(differs in: model/);
  });

  it('a folder locked by a live process is refused; a dead owner\'s lock is taken over', async () => {
    const out = path.join(tmp, 'locked');
    fs.mkdirSync(out, { recursive: true });
    const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)'], { stdio: 'ignore' });
    try {
      fs.writeFileSync(path.join(out, 'lock'), String(child.pid));
      const err = await fitRun({ ...opts, train: write('d.jsonl', rows('alpha')), out }).catch((e) => e);
      expect(err).toBeInstanceOf(FolderInUseError);
      expect(String(err.message)).toMatch(new RegExp(`run folder .*locked is in use by process ${child.pid}`));
    } finally {
      child.kill();
    }
    await new Promise((r) => child.once('exit', r));
    // the owner is gone: the stale lock is taken over and released at the end
    const r = await fitRun({ ...opts, train: path.join(tmp, 'd.jsonl'), out });
    expect(r.status).toBe('finished');
    expect(fs.existsSync(path.join(out, 'lock'))).toBe(false);
  });

  it('lockFolder is exclusive within a process too; removeStaleTemps keeps live writers\' files', async () => {
    const dir = path.join(tmp, 'temps');
    const release = await lockFolder(dir);
    expect(fs.readFileSync(path.join(dir, 'lock'), 'utf8')).toBe(String(process.pid));
    await release();
    expect(fs.existsSync(path.join(dir, 'lock'))).toBe(false);
    const child = spawn(process.execPath, ['-e', '0'], { stdio: 'ignore' });
    await new Promise((r) => child.once('exit', r));
    const dead = `.checkpoint.bin.${child.pid}.ab12cd34.tmp`;
    const live = `.logs.jsonl.${process.pid}.ab12cd34.tmp`;
    for (const f of [dead, live, 'keep.tmp']) fs.writeFileSync(path.join(dir, f), 'x');
    expect(await removeStaleTemps(dir)).toEqual([dead]);
    expect(fs.readdirSync(dir).sort()).toEqual([live, 'keep.tmp'].sort());
  });
});

describe('train.jsonl rows are checked with their line', () => {
  const bad: [string, object, RegExp][] = [
    ['a margin that is not a number', { query: 'q', positive: 'p', negative: 'n', margin: 'x' }, /bad-1\.jsonl:2: margin "x" is not a finite number/],
    ['no margin', { query: 'q', positive: 'p', negative: 'n' }, /bad-2\.jsonl:2: 1 negative\(s\) but 0 margin\(s\)/],
    ['no negative', { query: 'q', positive: 'p', margin: 1 }, /bad-3\.jsonl:2: needs a negative/],
    ['more margins than negatives', { query: 'q', positive: 'p', negatives: ['n'], margins: [1, 2] }, /bad-4\.jsonl:2: 1 negative\(s\) but 2 margin\(s\)/],
  ];
  bad.forEach(([what, row, msg], i) => {
    it(what, async () => {
      const f = write(`bad-${i + 1}.jsonl`, [rows('alpha')[0], row]);
      await expect(fitRun({ ...opts, train: f, out: path.join(tmp, `bad-${i}`) })).rejects.toThrow(msg);
    });
  });
});
