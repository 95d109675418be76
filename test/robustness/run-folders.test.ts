/**
 * Robustness suite, area 'run folders': synthesis and fit run folders damaged, foreign, of another
 * run, of the older format, in use, left by a killed process — then used again. Every case ends in
 * the right result (train.jsonl / the student and the exported model byte-identical to an intact
 * run, and for fit the same step and epoch records in logs.jsonl) or a user error naming the file at fault (and, where there is one, the way out --restart).
 *
 * Synthesis runs use the fake encoder and scorer of test/synthesis-fakes.ts (embedding, mining and
 * scoring checkpoints, no model files); fit runs the static student on 48 rows with a WordPiece
 * tokenizer. Both in-process (library calls, and the CLI through runCli for the CLI's own paths).
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { writeWordPieceTokenizer } from '../../lib/models/wordpiece';
import { synthesize, type SynthesizeOptions } from '../../lib/synthesis';
import { mulberry32 } from '../../lib/util/rng';
import { fitRun, type FitRunOptions } from '../../lib/training/run';
import { readStudentState } from '../../lib/training/students';
import { runCli } from '../helpers/cli';
import { scratchDirs } from '../helpers/models';
import { FakeEncoder, FakeScorer, syntheticData } from '../synthesis-fakes';
import { classifyCall, classifyRun, record, type Expectation } from './outcome';

const AREA = 'run folders';
const tmp = scratchDirs('synthtune-robust-runs-');
const root = tmp.sync();
let n = 0;
const fresh = (tag: string) => path.join(root, `${tag}-${n++}`);

// ---- damage ------------------------------------------------------------------------------------

type Damage = 'truncated' | 'bit-flipped' | 'empty';
const DAMAGES: Damage[] = ['truncated', 'bit-flipped', 'empty'];

/** Damages a file: cut to half its length, one seeded bit flipped, or emptied. */
function damage(file: string, how: Damage, seed = 1): void {
  const b = fs.readFileSync(file);
  if (how === 'empty') fs.writeFileSync(file, '');
  else if (how === 'truncated') fs.writeFileSync(file, b.subarray(0, Math.floor(b.length / 2)));
  else {
    const r = mulberry32(seed + b.length);
    const at = Math.floor(r() * b.length);
    b[at] ^= 1 << Math.floor(r() * 8);
    fs.writeFileSync(file, b);
  }
}

/** A pid that is certainly dead (a child that ran and exited). */
function deadPid(): number {
  return spawnSync(process.execPath, ['-e', 'process.pid'], { stdio: 'ignore' }).pid!;
}

/** A live process for the duration of f (its pid holds a lock). */
async function withLivePid<T>(f: (pid: number) => Promise<T>): Promise<T> {
  const child = spawn(process.execPath, ['-e', 'setTimeout(() => undefined, 60000)'], { stdio: 'ignore' });
  try {
    return await f(child.pid!);
  } finally {
    child.kill('SIGKILL');
  }
}

const same = (a: string, b: string) => fs.existsSync(a) && fs.existsSync(b) && Buffer.compare(fs.readFileSync(a), fs.readFileSync(b)) === 0;
const noLeftovers = (dir: string) => fs.readdirSync(dir, { recursive: true }).map(String).every((f) => !f.endsWith('.tmp') && path.basename(f) !== 'lock');
const copy = (from: string, tag: string) => {
  const d = fresh(tag);
  fs.cpSync(from, d, { recursive: true });
  return d;
};

// ---- synthesis ---------------------------------------------------------------------------------

const DATA = syntheticData(12, 40, 3);
function synthOpts(out: string, extra: Partial<SynthesizeOptions> = {}): SynthesizeOptions {
  return {
    ...DATA, miner: new FakeEncoder(8), scorer: new FakeScorer(), numRelations: 4, encodeBatchSize: 16, mineBatchSize: 5, scoreBatchSize: 5,
    csv: true, out, progress: 'none', ...extra,
  };
}
const synth = async (out: string, extra: Partial<SynthesizeOptions> = {}) => {
  await (await synthesize(synthOpts(out, extra))).wait();
};

let synthRef = '';
/** Synthesis outcome: an error naming `mentions`, or train.jsonl identical to the intact run's. */
async function synthCase(name: string, out: string, mentions: Expectation['mentions'], extra: Partial<SynthesizeOptions> = {}, also: (d: string) => boolean = () => true): Promise<void> {
  const r = await classifyCall(() => synth(out, extra), {
    mentions, correct: () => ['train.jsonl', 'train.csv'].every((f) => same(path.join(out, f), path.join(synthRef, f))) && noLeftovers(out) && also(out),
  });
  record(AREA, `synthesis: ${name}`, r);
}

// ---- fit ---------------------------------------------------------------------------------------

let fitRef = '';
let train = '';
let tok = '';
let tok2 = '';
const FIT_OUTPUTS = ['student/weights.bin', 'model/onnx/model.onnx'];
function fitOpts(out: string, extra: Partial<FitRunOptions> = {}): FitRunOptions {
  return { train, method: 'static', tokenizer: tok, dim: 8, epochs: 2, batchSize: 8, seed: 1, checkpointEvery: 3, holdOut: false, out, log: null, ...extra };
}
/** The step and epoch records of a fit's logs.jsonl (messages differ: a resumed run says so). */
const records = (out: string) => fs.readFileSync(path.join(out, 'logs.jsonl'), 'utf8').split('\n').filter((l) => /"type":"(step|epoch)"/.test(l)).join('\n');
async function fitCase(name: string, out: string, mentions: Expectation['mentions'], extra: Partial<FitRunOptions> = {}, also: (d: string) => boolean = () => true): Promise<void> {
  const r = await classifyCall(() => fitRun(fitOpts(out, extra)), {
    mentions, correct: () => FIT_OUTPUTS.every((f) => same(path.join(out, f), path.join(fitRef, f))) && records(out) === records(fitRef) && noLeftovers(out) && also(out),
  });
  record(AREA, `fit: ${name}`, r);
}

beforeAll(async () => {
  synthRef = path.join(root, 'synth-ref');
  await synth(synthRef);
  const words = ['alpha', 'beta', 'gamma', 'delta', 'eps', 'zeta'];
  const rows = (salt: number) => Array.from({ length: 48 }, (_, i) => ({
    query: `query ${i % 16} ${words[(i + salt) % 6]}`, positive: `doc ${words[(i * 5) % 6]} ${i % 16}`, negative: `other ${words[(i * 7 + salt) % 6]} ${i % 5}`, margin: 1 + ((i + salt) % 4),
  }));
  train = path.join(root, 'train.jsonl');
  fs.writeFileSync(train, rows(0).map((r) => JSON.stringify(r)).join('\n'));
  fs.writeFileSync(path.join(root, 'train2.jsonl'), rows(1).map((r) => JSON.stringify(r)).join('\n'));
  const texts = rows(0).flatMap((r) => [r.query, r.positive, r.negative]);
  tok = path.join(root, 'tok');
  writeWordPieceTokenizer(tok, texts, { vocabSize: 80 });
  tok2 = path.join(root, 'tok2');
  writeWordPieceTokenizer(tok2, [...texts, 'more words here', 'and there'], { vocabSize: 90 });
  fitRef = path.join(root, 'fit-ref');
  await fitRun(fitOpts(fitRef));
});


describe('synthesis run folders', () => {
  it('status.json damaged: resumed from the checkpoints, or refused naming it', async () => {
    for (const how of DAMAGES) {
      const out = copy(synthRef, 'syn-status');
      damage(path.join(out, 'status.json'), how, 7);
      await synthCase(`status.json ${how}`, out, ['status.json']);
    }
  });

  it('logs.jsonl damaged: the run resumes (the log is not needed); reading the log names the line', async () => {
    const { Run } = await import('../../lib/synthesis');
    for (const how of DAMAGES) {
      const out = copy(synthRef, 'syn-logs');
      damage(path.join(out, 'logs.jsonl'), how, 9);
      if (how === 'truncated') record(AREA, 'synthesis: reading a truncated logs.jsonl', await classifyCall(() => new Run(out).logs(), { mentions: ['logs.jsonl:'], correct: () => true }));
      fs.rmSync(path.join(out, 'train.jsonl'));
      await synthCase(`logs.jsonl ${how}`, out, ['logs.jsonl']);
      record(AREA, `synthesis: the log after resuming with logs.jsonl ${how}`, await classifyCall(() => new Run(out).logs(), { correct: async () => (await new Run(out).logs()).length > 0 }));
    }
  });

  it('config.json damaged: refused naming it and --restart; --restart then starts over', async () => {
    for (const how of DAMAGES) {
      const out = copy(synthRef, 'syn-config');
      damage(path.join(out, 'config.json'), how, 11);
      await synthCase(`config.json ${how}`, out, ['config.json']);
    }
    const out = copy(synthRef, 'syn-config-restart');
    damage(path.join(out, 'config.json'), 'truncated');
    await synthCase('config.json truncated, then restart: true', out, [], { restart: true });
  });

  const CHECKPOINTS = ['checkpoints/emb-0/corpus-000000.safetensors', 'checkpoints/emb-0/queries-000000.safetensors', 'checkpoints/mine-000001.safetensors', 'checkpoints/score-000002.safetensors'];
  it('each checkpoint kind damaged (the run resumes through it): refused naming the file and --restart', async () => {
    for (const ck of CHECKPOINTS) {
      for (const how of DAMAGES) {
        const out = copy(synthRef, 'syn-ckpt');
        damage(path.join(out, ck), how, 3);
        fs.rmSync(path.join(out, 'train.jsonl')); // the run resumes and reads every checkpoint
        await synthCase(`${path.basename(ck)} ${how}`, out, [path.basename(ck), '--restart']);
      }
    }
  });

  it('train.jsonl and train.csv damaged: refused naming them; deleted: written again from the checkpoints', async () => {
    for (const file of ['train.jsonl', 'train.csv']) {
      for (const how of DAMAGES) {
        const out = copy(synthRef, 'syn-train');
        damage(path.join(out, file), how, 5);
        await synthCase(`${file} ${how}`, out, [file, '--restart']);
      }
      const out = copy(synthRef, 'syn-train-deleted');
      fs.rmSync(path.join(out, file));
      await synthCase(`${file} deleted`, out, []);
    }
  });

  it('the older format (raw .i32/.f32/.bin checkpoints, status without format): refused naming the file; restart works', async () => {
    const legacy = () => {
      const out = copy(synthRef, 'syn-legacy');
      const cfg = JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8'));
      delete cfg.format;
      delete cfg.kind;
      fs.writeFileSync(path.join(out, 'config.json'), JSON.stringify(cfg));
      const st = JSON.parse(fs.readFileSync(path.join(out, 'status.json'), 'utf8'));
      const old = { status: st.state, progress: 1, updatedAt: st.updatedAt, examples: st.examples };
      fs.writeFileSync(path.join(out, 'status.json'), JSON.stringify(old));
      const ck = path.join(out, 'checkpoints');
      for (const f of fs.readdirSync(ck)) if (f.endsWith('.safetensors')) fs.renameSync(path.join(ck, f), path.join(ck, f.replace('.safetensors', f.startsWith('mine') ? '.i32' : '.f32')));
      return out;
    };
    await synthCase('older format folder', legacy(), ['status.json', 'older synthtune', '--restart']);
    const out = legacy();
    fs.rmSync(path.join(out, 'status.json'));
    await synthCase('older format folder without status.json', out, ['config.json', 'older synthtune', '--restart']);
    // a raw checkpoint in a current folder (a file of the old layout under the new name)
    const raw = copy(synthRef, 'syn-raw');
    fs.writeFileSync(path.join(raw, 'checkpoints/mine-000000.safetensors'), Buffer.from(new Int32Array([0, 1, 2, 3, 1, 2, 3, 4]).buffer));
    fs.rmSync(path.join(raw, 'train.jsonl'));
    await synthCase('raw Int32 values as a mining checkpoint', raw, ['mine-000000.safetensors', '--restart']);
    await synthCase('older format folder with restart: true', legacy(), [], { restart: true });
    await synthCase('older format folder with overwrite: true', legacy(), [], { overwrite: true });
    const newer = copy(synthRef, 'syn-newer');
    const st = JSON.parse(fs.readFileSync(path.join(newer, 'status.json'), 'utf8'));
    fs.writeFileSync(path.join(newer, 'status.json'), JSON.stringify({ ...st, format: 3 }));
    await synthCase('a folder of a newer format', newer, ['status.json', 'newer synthtune', '--restart']);
    const unknown = copy(synthRef, 'syn-unknown-kind');
    fs.writeFileSync(path.join(unknown, 'status.json'), fs.readFileSync(path.join(unknown, 'status.json'), 'utf8').replace('"kind": "synthesis"', '"kind": "synthesiz"'));
    await synthCase('status.json with a damaged kind', unknown, ['status.json', '--restart']);
    await synthCase('status.json with a damaged kind, restart: true', unknown, [], { restart: true });
  });

  it('a foreign folder: a fit run folder, a folder of other files', async () => {
    const fitFolder = copy(fitRef, 'syn-foreign-fit');
    await synthCase('a fit run folder as out', fitFolder, ['status.json', 'fit run folder', '--out']);
    await synthCase('a fit run folder as out, with restart: true', copy(fitRef, 'syn-foreign-fit'), ['status.json', 'fit run folder'], { restart: true });
    const other = fresh('syn-foreign-files');
    fs.mkdirSync(other);
    fs.writeFileSync(path.join(other, 'notes.txt'), 'mine');
    await synthCase('a folder of other files as out', other, [path.basename(other), '--out'], {}, () => false);
  });

  it('another synthesis into an existing folder: other data, model, options are refused saying which', async () => {
    await synthCase('other data', copy(synthRef, 'syn-other'), ['config.json', 'data', '--restart'], syntheticData(12, 40, 4));
    await synthCase('other model', copy(synthRef, 'syn-other'), ['config.json', 'model', '--restart'], { miner: new FakeEncoder(8, 'another-encoder', 1) });
    await synthCase('other options', copy(synthRef, 'syn-other'), ['config.json', 'options (numRelations)', '--restart'], { numRelations: 5 });
  });

  it('locks and temporary files: in use refused; a dead owner\'s lock taken over; leftovers removed', async () => {
    await withLivePid(async (pid) => {
      const out = copy(synthRef, 'syn-inuse');
      fs.writeFileSync(path.join(out, 'lock'), String(pid));
      const r = await classifyCall(() => synth(out), { mentions: ['lock', String(pid), '--out'] });
      record(AREA, 'synthesis: folder in use by a live process', r);
    });
    const stale = copy(synthRef, 'syn-stale');
    fs.writeFileSync(path.join(stale, 'lock'), String(deadPid()));
    fs.rmSync(path.join(stale, 'train.jsonl'));
    await synthCase('stale lock of a dead process', stale, []);
    const temps = copy(synthRef, 'syn-temps');
    const dead = deadPid();
    fs.writeFileSync(path.join(temps, `.train.jsonl.${dead}.0a1b2c3d.tmp`), 'half a line');
    fs.writeFileSync(path.join(temps, 'checkpoints', `.score-000001.safetensors.${dead}.deadbeef.tmp`), 'x');
    fs.rmSync(path.join(temps, 'train.jsonl'));
    await synthCase('temporary files of a killed writer', temps, []);
  });
});

describe('fit run folders', () => {
  it('status.json and config.json damaged: the run resumes (they are rewritten), or is refused naming them', async () => {
    for (const file of ['status.json', 'config.json']) {
      for (const how of DAMAGES) {
        const out = copy(fitRef, 'fit-json');
        damage(path.join(out, file), how, 13);
        await fitCase(`${file} ${how}`, out, [file]);
      }
    }
  });

  it('checkpoint.bin damaged, or of the older STT1 format: refused naming it and --restart; --restart starts over', async () => {
    for (const how of DAMAGES) {
      const out = copy(fitRef, 'fit-ckpt');
      damage(path.join(out, 'checkpoint.bin'), how, 17);
      await fitCase(`checkpoint.bin ${how}`, out, ['checkpoint.bin', '--restart']);
    }
    const stt1 = copy(fitRef, 'fit-stt1');
    const header = Buffer.from(JSON.stringify({ meta: { version: 1 }, tensors: [{ name: 'x', offset: 0, length: 1 }] }));
    const len = Buffer.alloc(4);
    len.writeUInt32LE(header.length);
    fs.writeFileSync(path.join(stt1, 'checkpoint.bin'), Buffer.concat([Buffer.from('STT1'), len, header, Buffer.alloc(8)]));
    await fitCase('checkpoint.bin in the older STT1 format', stt1, ['checkpoint.bin', 'older synthtune', '--restart']);
    await fitCase('checkpoint.bin STT1, then resume: false (--restart)', stt1, [], { resume: false });
    // a whole folder of the older format: status.json without format, lowercase state, STT1 checkpoint
    const legacy = copy(fitRef, 'fit-legacy');
    fs.copyFileSync(path.join(stt1, 'checkpoint.bin'), path.join(legacy, 'checkpoint.bin'));
    fs.writeFileSync(path.join(legacy, 'status.json'), JSON.stringify({ state: 'finished', epoch: 2, step: 12 }));
    await fitCase('older format folder', legacy, ['status.json', 'older synthtune', '--restart']);
    await fitCase('older format folder, resume: false (--restart)', legacy, [], { resume: false });
    const newer = copy(fitRef, 'fit-newer');
    const st = JSON.parse(fs.readFileSync(path.join(newer, 'status.json'), 'utf8'));
    fs.writeFileSync(path.join(newer, 'status.json'), JSON.stringify({ ...st, format: 3 }));
    await fitCase('a folder of a newer format', newer, ['status.json', 'newer synthtune', '--restart']);
  });

  it('outputs damaged (student weights, exported model, log): rewritten by the resumed run, or refused naming the file', async () => {
    for (const file of [...FIT_OUTPUTS, 'logs.jsonl']) {
      for (const how of DAMAGES) {
        const out = copy(fitRef, 'fit-out');
        damage(path.join(out, file), how, 19);
        await fitCase(`${file} ${how}`, out, [path.basename(file)]);
      }
    }
    // a reader of a damaged student file: an error naming it, never weights
    const out = copy(fitRef, 'fit-student');
    damage(path.join(out, 'student/weights.bin'), 'bit-flipped', 23);
    record(AREA, 'fit: reading a bit-flipped student/weights.bin', await classifyCall(() => readStudentState(path.join(out, 'student')), { mentions: ['weights.bin'] }));
  });

  it('a foreign folder: a synthesis run folder, a folder of other files (a model folder) are refused', async () => {
    await fitCase('a synthesis run folder as out', copy(synthRef, 'fit-foreign-syn'), ['status.json', 'synthesis run folder', '--out'],
      {}, () => false);
    const syn = copy(synthRef, 'fit-foreign-syn-nostatus');
    fs.rmSync(path.join(syn, 'status.json'));
    await fitCase('a synthesis run folder without status.json as out', syn, ['config.json', 'synthesis run', '--out'], {}, () => false);
    const other = fresh('fit-foreign-files');
    fs.mkdirSync(other);
    fs.writeFileSync(path.join(other, 'notes.txt'), 'mine');
    await fitCase('a folder of other files as out', other, [path.basename(other), '--out'], {}, () => false);
    await fitCase('a model folder as out (the tokenizer folder)', copy(tok, 'fit-foreign-model'), ['fit run folder', '--out'], { resume: false }, () => false);
  });

  it('another fit into an existing folder: other data, model, options are refused saying which', async () => {
    await fitCase('other data', copy(fitRef, 'fit-other'), ['checkpoint.bin', 'data', '--restart'], { train: path.join(root, 'train2.jsonl') });
    await fitCase('other base model (tokenizer)', copy(fitRef, 'fit-other'), ['checkpoint.bin', 'model', '--restart'], { tokenizer: tok2 });
    await fitCase('other options', copy(fitRef, 'fit-other'), ['checkpoint.bin', 'options (', 'batchSize', '--restart'], { batchSize: 6 });
  });

  it('locks and temporary files: in use refused; a dead owner\'s lock taken over; leftovers removed', async () => {
    await withLivePid(async (pid) => {
      const out = copy(fitRef, 'fit-inuse');
      fs.writeFileSync(path.join(out, 'lock'), String(pid));
      const before = fs.readFileSync(path.join(out, 'config.json'));
      const r = await classifyCall(() => fitRun(fitOpts(out)), { mentions: ['lock', String(pid), '--out'] });
      record(AREA, 'fit: folder in use by a live process', r);
      record(AREA, 'fit: folder in use: config.json left as it was', Buffer.compare(before, fs.readFileSync(path.join(out, 'config.json'))) === 0
        ? { outcome: 'correct', detail: '' } : { outcome: 'silent-wrong', detail: 'config.json rewritten while another process owns the folder' });
    });
    const stale = copy(fitRef, 'fit-stale');
    fs.writeFileSync(path.join(stale, 'lock'), String(deadPid()));
    await fitCase('stale lock of a dead process', stale, []);
    const temps = copy(fitRef, 'fit-temps');
    const dead = deadPid();
    fs.writeFileSync(path.join(temps, `.checkpoint.bin.${dead}.0a1b2c3d.tmp`), 'half');
    fs.writeFileSync(path.join(temps, 'student', `.weights.bin.${dead}.deadbeef.tmp`), 'x');
    await fitCase('temporary files of a killed writer', temps, []);
  });
});

describe('the tensor files are standard safetensors', () => {
  it('student/weights.bin and checkpoint.bin read back through the model-folder reader (lib/models/import.ts), the same values', async () => {
    const { readSafetensors } = await import('../../lib/models/import');
    const mine = await readStudentState(path.join(fitRef, 'student'));
    const theirs = readSafetensors(path.join(fitRef, 'student', 'weights.bin'));
    expect([...theirs.tensors.keys()].sort()).toEqual(Object.keys(mine.tensors).sort());
    for (const [name, t] of theirs.tensors) expect(Buffer.compare(Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength), Buffer.from(mine.tensors[name].buffer))).toBe(0);
    expect(JSON.parse(theirs.metadata['synthtune.meta'])).toMatchObject({ kind: 'static' });
    expect(readSafetensors(path.join(fitRef, 'checkpoint.bin')).metadata['synthtune.sha256']).toMatch(/^[0-9a-f]{64}$/);
  });
});

describe('through the CLI: one line, exit 2, the file and the way out', () => {
  const texts = (dir: string) => {
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'corpus.txt'), Array.from({ length: 10 }, (_, i) => `document ${i} about topic ${i % 3}`).join('\n'));
    fs.writeFileSync(path.join(dir, 'queries.txt'), 'topic 1\ndocument 4\n');
  };
  const synthArgs = (out: string, extra: string[] = []) => ['--queries', path.join(root, 'cli', 'queries.txt'), '--corpus', path.join(root, 'cli', 'corpus.txt'), '--miner', 'bm25', '--scorer', 'bm25', '--num-relations', '3', '--out', out, '--progress', 'none', ...extra];
  const fitArgs = (out: string, extra: string[] = []) => ['--train', train, '--method', 'static', '--tokenizer', tok, '--dim', '8', '--epochs', '1', '--batch-size', '8', '--no-hold-out', '--out', out, '--quiet', ...extra];

  it('synthesize and fit on each other\'s folders, damaged checkpoints, --restart', async () => {
    texts(path.join(root, 'cli'));
    const ref = fresh('cli-syn-ref');
    record(AREA, 'cli: synthesize', await classifyRun(await runCli('synthesize', synthArgs(ref)), { correct: () => fs.existsSync(path.join(ref, 'train.jsonl')) }));
    const fitOut = fresh('cli-fit');
    record(AREA, 'cli: fit', await classifyRun(await runCli('fit', fitArgs(fitOut)), { correct: () => fs.existsSync(path.join(fitOut, 'student/weights.bin')) }));
    record(AREA, 'cli: synthesize --out <a fit run folder>', await classifyRun(await runCli('synthesize', synthArgs(fitOut)), { mentions: ['status.json', 'fit run folder', '--out'] }));
    record(AREA, 'cli: fit --out <a synthesis run folder>', await classifyRun(await runCli('fit', fitArgs(ref)), { mentions: ['status.json', 'synthesis run folder', '--out'] }));
    const dmg = copy(fitOut, 'cli-fit-dmg');
    damage(path.join(dmg, 'checkpoint.bin'), 'bit-flipped', 29);
    record(AREA, 'cli: fit on a bit-flipped checkpoint.bin', await classifyRun(await runCli('fit', fitArgs(dmg)), { mentions: ['checkpoint.bin', '--restart'] }));
    record(AREA, 'cli: fit --restart on a bit-flipped checkpoint.bin', await classifyRun(await runCli('fit', fitArgs(dmg, ['--restart'])), {
      correct: () => FIT_OUTPUTS.every((f) => same(path.join(dmg, f), path.join(fitOut, f))),
    }));
    const syn = copy(ref, 'cli-syn-dmg');
    damage(path.join(syn, 'checkpoints', 'mine-000000.safetensors'), 'truncated');
    fs.rmSync(path.join(syn, 'train.jsonl'));
    record(AREA, 'cli: synthesize on a truncated mining checkpoint', await classifyRun(await runCli('synthesize', synthArgs(syn)), { mentions: ['mine-000000.safetensors', '--restart'] }));
    record(AREA, 'cli: synthesize --restart on it', await classifyRun(await runCli('synthesize', synthArgs(syn, ['--restart'])), { correct: () => same(path.join(syn, 'train.jsonl'), path.join(ref, 'train.jsonl')) }));
    const other = copy(ref, 'cli-syn-other');
    record(AREA, 'cli: synthesize with other options into a finished folder', await classifyRun(await runCli('synthesize', synthArgs(other, ['--num-relations', '4'])), { mentions: ['config.json', 'options (numRelations)', '--restart'] }));
  });
});
