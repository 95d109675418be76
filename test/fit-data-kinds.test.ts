/**
 * `fit` on every kind of training data (issue 17): the Finetuner guides' forms in
 * test/fixtures/finetuner (labeled, pairs, scored, quoted, three dialects, DocumentArray records
 * with label / score / chunks) train end to end through fitRun and the CLI, with the loss picked
 * from the data kind (SupConLoss, MultipleNegativesRankingLoss, CoSENTLoss) or given; the training
 * loss goes down and the exported model loads and encodes. Static, adapter (query-only and both
 * sides) and full students; the label sampler's run resumes to the same weights; bad combinations
 * are refused with a message naming the file and the losses that apply.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readTrainingData } from '../lib/data/forms';
import { loadEncoder } from '../lib/models/encoder';
import { TextTokenizer } from '../lib/models/tokenizer';
import { writeTinyModel } from '../lib/models/tiny';
import { buildWordPieceTokenizer } from '../lib/models/wordpiece';
import { mapTextItems, textItems } from '../lib/training/data';
import { fit } from '../lib/training/fit';
import type { LossName } from '../lib/training/losses';
import { fitRun, type FitRunOptions } from '../lib/training/run';
import { StaticStudent } from '../lib/training/students/static';
import { nativeBertAvailable } from '../lib/training/students/full';
import { runCli } from './helpers/cli';

const FIX = path.join(__dirname, 'fixtures', 'finetuner');
const fx = (f: string) => path.join(FIX, f);
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'synthtune-fit-kinds-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

// every text of the fixtures, for the tokenizer's vocabulary
const ALL_TEXTS = fs.readdirSync(FIX).flatMap((f) => fs.readFileSync(fx(f), 'utf8').split(/[\n,\t"{}[\]:]+/)).filter((t) => t.trim());
const tokDir = path.join(root, 'tokenizer');
const tok = buildWordPieceTokenizer(ALL_TEXTS, { vocabSize: 400 });
fs.mkdirSync(tokDir, { recursive: true });
fs.writeFileSync(path.join(tokDir, 'tokenizer.json'), JSON.stringify(tok.tokenizerJson));
fs.writeFileSync(path.join(tokDir, 'tokenizer_config.json'), JSON.stringify(tok.tokenizerConfig));
const base = writeTinyModel(path.join(root, 'base'), { seed: 3, std: 0.2, texts: ALL_TEXTS, vocabSize: 400 }).dir;

let runs = 0;
function out(): string {
  return path.join(root, `run-${runs++}`);
}

async function expectLoadable(modelDir: string, dim: number): Promise<void> {
  const enc = await loadEncoder(modelDir, { threads: 1 });
  try {
    const e = await enc.encodeDocuments(['Hello!', 'Risotto']);
    expect(e.length).toBe(2 * dim);
    expect(e.every(Number.isFinite)).toBe(true);
  } finally {
    await enc.release();
  }
}

function readConfig(dir: string): Record<string, { value?: unknown; source?: string; kind?: string } | null> {
  return JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
}

const FORMS: { file: string; read?: FitRunOptions['read']; kind: string; loss: LossName; n: number }[] = [
  { file: 'labeled-header.csv', kind: 'labeled', loss: 'SupConLoss', n: 7 },
  { file: 'labeled.csv', read: { isLabeled: true }, kind: 'labeled', loss: 'SupConLoss', n: 6 },
  { file: 'excel.csv', read: { dialect: 'excel' }, kind: 'labeled', loss: 'SupConLoss', n: 4 },
  { file: 'excel-tab.tsv', read: { dialect: 'excel-tab' }, kind: 'labeled', loss: 'SupConLoss', n: 4 },
  { file: 'unix.csv', read: { dialect: 'unix' }, kind: 'labeled', loss: 'SupConLoss', n: 4 },
  { file: 'docarray-labeled.jsonl', kind: 'labeled', loss: 'SupConLoss', n: 5 },
  { file: 'pairs.csv', kind: 'pairs', loss: 'MultipleNegativesRankingLoss', n: 5 },
  { file: 'docarray-pairs.jsonl', kind: 'pairs', loss: 'MultipleNegativesRankingLoss', n: 3 },
  { file: 'scored-quoted.csv', kind: 'scored', loss: 'CoSENTLoss', n: 3 },
  { file: 'train.csv', kind: 'scored', loss: 'CoSENTLoss', n: 4 },
  { file: 'docarray-scored.json', kind: 'scored', loss: 'CoSENTLoss', n: 3 },
];

const STATIC = { method: 'static' as const, tokenizer: tokDir, dim: 16, epochs: 12, batchSize: 64, learningRate: 0.05, seed: 1, log: null };

describe('fitRun on every form (static student)', () => {
  for (const f of FORMS) {
    it(`${f.file}${f.read ? ` ${JSON.stringify(f.read)}` : ''}: ${f.kind} → ${f.loss}, loss goes down, loadable model`, async () => {
      const dir = out();
      const r = await fitRun({ ...STATIC, train: fx(f.file), read: f.read, out: dir });
      expect(r.status).toBe('finished');
      expect(r.examples).toBe(f.n);
      expect(r.config.loss).toMatchObject({ value: f.loss, source: 'auto' });
      expect(r.config.data.kind).toBe(f.kind);
      expect(r.config.marginScale).toBeNull();
      expect(r.config.heldOut.value).toBe(0);
      expect(r.epochLosses.length).toBe(12);
      expect(r.epochLosses.at(-1)).toBeLessThan(r.epochLosses[0] * 0.9);
      const c = readConfig(dir);
      expect(c.loss?.value).toBe(f.loss);
      expect(c.data?.kind).toBe(f.kind);
      await expectLoadable(r.modelDir, 16);
    });
  }
});

describe('fitRun: losses given, adapter and full students, options', () => {
  it('pairs with MultipleNegativesSymmetricRankingLoss, scored with CosineSimilarityLoss (option)', async () => {
    const a = await fitRun({ ...STATIC, train: fx('pairs.csv'), loss: 'MultipleNegativesSymmetricRankingLoss', out: out() });
    expect(a.config.loss).toMatchObject({ value: 'MultipleNegativesSymmetricRankingLoss', source: 'option' });
    expect(a.epochLosses.at(-1)).toBeLessThan(a.epochLosses[0]);
    const b = await fitRun({ ...STATIC, train: fx('train.csv'), loss: 'CosineSimilarityLoss', out: out() });
    expect(b.config.loss.value).toBe('CosineSimilarityLoss');
    expect(b.epochLosses.at(-1)).toBeLessThan(b.epochLosses[0] * 0.5);
  });

  it('synthesized rows with MultipleNegativesRankingLoss train on their (query, positive) pairs', async () => {
    const r = await fitRun({ ...STATIC, train: fx('margins.jsonl'), loss: 'MultipleNegativesRankingLoss', out: out() });
    expect(r.config.data.kind).toBe('margins');
    expect(r.examples).toBe(2);
    expect(r.config.marginScale).toBeNull();
    expect(r.epochLosses.at(-1)).toBeLessThan(r.epochLosses[0]);
    // Margin-MSE stays the default for them
    const m = await fitRun({ ...STATIC, train: fx('margins.jsonl'), epochs: 1, out: out() });
    expect(m.config.loss).toMatchObject({ value: 'MarginMSELoss', source: 'auto' });
    expect(m.config.marginScale).not.toBeNull();
  });

  it('size and sampling rate apply to the training file', async () => {
    const r = await fitRun({ ...STATIC, epochs: 2, train: fx('pairs.csv'), read: { size: 3 }, out: out() });
    expect(r.examples).toBe(3);
    const s = await fitRun({ ...STATIC, epochs: 2, train: fx('labeled-header.csv'), read: { samplingRate: 0.5, seed: 4 }, out: out() });
    expect(s.examples).toBeLessThan(7);
    expect(s.examples).toBeGreaterThan(0);
  });

  it('refuses a loss the data cannot train, a list of texts, and Margin-MSE options on other data', async () => {
    await expect(fitRun({ ...STATIC, train: fx('labeled-header.csv'), loss: 'CoSENTLoss', out: out() }))
      .rejects.toThrow(/CoSENTLoss cannot train labeled data \(.*labeled-header\.csv\); it trains with SupConLoss/);
    await expect(fitRun({ ...STATIC, train: fx('queries.csv'), out: out() })).rejects.toThrow(/queries\.csv: is a list of texts.*synthesize/);
    await expect(fitRun({ ...STATIC, train: fx('pairs.csv'), marginScale: 0.1, out: out() })).rejects.toThrow(/Margin-MSE's/);
    await expect(fitRun({ ...STATIC, train: fx('train.csv'), loss: 'CosineSimilarityLoss', score: 'dot', out: out() })).rejects.toThrow(/--score dot does not apply/);
    await expect(fitRun({ ...STATIC, train: fx('labeled.csv'), out: out() })).rejects.toThrow(/labeled\.csv:1: ambiguous/);
  });

  for (const sides of ['query', 'both'] as const) {
    it(`adapter (${sides} side${sides === 'both' ? 's' : ''}): pairs, labeled and scored data train and export`, async () => {
      for (const file of ['pairs.csv', 'labeled-header.csv', 'train.csv']) {
        const r = await fitRun({ method: 'adapter', model: base, sides, train: fx(file), epochs: 15, batchSize: 64, learningRate: 0.02, seed: 2, out: out(), log: null });
        expect(r.epochLosses.at(-1), file).toBeLessThan(r.epochLosses[0]);
        await expectLoadable(r.modelDir, 32);
      }
    });
  }

  const full = nativeBertAvailable();
  it.runIf(full.ok)('full: pairs and labeled data fine-tune the whole encoder', async () => {
    const fullBase = writeTinyModel(path.join(root, 'full-base'), {
      seed: 9, texts: ALL_TEXTS, vocabSize: 400, shape: { hidden: 32, layers: 1, heads: 2, intermediate: 64, maxPosition: 64 },
    });
    for (const file of ['pairs.csv', 'docarray-labeled.jsonl']) {
      const r = await fitRun({ method: 'full', model: fullBase.dir, train: fx(file), epochs: 6, batchSize: 64, learningRate: 5e-3, seed: 1, threads: 1, device: 'cpu', out: out(), log: null });
      expect(r.epochLosses.at(-1), file).toBeLessThan(r.epochLosses[0]);
      await expectLoadable(r.modelDir, 32);
    }
  });
});

describe('SupConLoss in fit(): label batches resume to the same weights', () => {
  it('an interrupted run continues to the weights of an uninterrupted one', async () => {
    const reading = await readTrainingData(fx('labeled-header.csv'));
    const items = textItems(reading.data, reading.file);
    const t = TextTokenizer.fromFolder(tokDir);
    const data = mapTextItems(items, (s) => Int32Array.from(t.encode(s).ids), (s) => Int32Array.from(t.encode(s).ids));
    const mk = () => new StaticStudent({ vocabSize: 400, dim: 8, seed: 5 });
    const opts = { loss: 'SupConLoss' as const, epochs: 4, batchSize: 4, learningRate: 0.05, seed: 7, log: null };
    const whole = mk();
    const a = await fit({ ...opts, student: whole, trainData: data, outDir: path.join(root, 'supcon-a') });
    const ctrl = new AbortController();
    const dir = path.join(root, 'supcon-b');
    const part = mk();
    const stop = { name: 'stop', onStepEnd: (_: unknown, s: { step: number }) => { if (s.step === 5) ctrl.abort(); } };
    const b1 = await fit({ ...opts, student: part, trainData: data, outDir: dir, signal: ctrl.signal, callbacks: [stop] });
    expect(b1.status).toBe('interrupted');
    const again = mk();
    const b2 = await fit({ ...opts, student: again, trainData: data, outDir: dir });
    expect(b2.resumedFrom).not.toBeNull();
    expect(b2.epochLosses).toEqual(a.epochLosses);
    const wa = again.state().tensors;
    const wb = whole.state().tensors;
    expect(Object.keys(wa).length).toBeGreaterThan(0);
    for (const k of Object.keys(wb)) expect(Array.from(wa[k]), k).toEqual(Array.from(wb[k]));
    // and training moved the weights
    expect(Array.from(wb[Object.keys(wb)[0]])).not.toEqual(Array.from(mk().state().tensors[Object.keys(wb)[0]]));
  });
});

describe('synthtune fit on data files (CLI)', () => {
  const cli = (args: string[]) => runCli('fit', args);
  const common = ['--method', 'static', '--tokenizer', tokDir, '--dim', '16', '--epochs', '8', '--batch-size', '64', '--lr', '0.05', '--seed', '1', '--quiet'];

  const CASES: { args: string[]; loss: string; kind: string }[] = [
    { args: ['--train', fx('labeled.csv'), '--is-labeled'], loss: 'SupConLoss', kind: 'labeled' },
    { args: ['--train', fx('excel-tab.tsv'), '--dialect', 'excel-tab'], loss: 'SupConLoss', kind: 'labeled' },
    { args: ['--train', fx('unix.csv'), '--dialect', 'unix'], loss: 'SupConLoss', kind: 'labeled' },
    { args: ['--train', fx('docarray-pairs.jsonl')], loss: 'MultipleNegativesRankingLoss', kind: 'pairs' },
    { args: ['--train', fx('pairs.csv'), '--no-is-labeled', '--loss', 'MultipleNegativesSymmetricRankingLoss'], loss: 'MultipleNegativesSymmetricRankingLoss', kind: 'pairs' },
    { args: ['--train', fx('scored-quoted.csv')], loss: 'CoSENTLoss', kind: 'scored' },
    { args: ['--train', fx('docarray-scored.json'), '--loss', 'CosineSimilarityLoss'], loss: 'CosineSimilarityLoss', kind: 'scored' },
  ];
  for (const c of CASES) {
    it(`${path.basename(c.args[1])} ${c.args.slice(2).join(' ')}`.trim(), async () => {
      const dir = out();
      const r = await cli([...c.args, ...common, '--out', dir, '--json']);
      expect(r.err).toBe('');
      expect(r.code).toBe(0);
      const j = JSON.parse(r.out);
      expect(j.loss).toBe(c.loss);
      expect(j.data).toBe(c.kind);
      expect(j.epochLosses.at(-1)).toBeLessThan(j.epochLosses[0]);
      await expectLoadable(j.model, 16);
    });
  }

  it('exit 2 with a message: unknown loss, a loss the data cannot train, ambiguous CSV, --convention without --eval-data', async () => {
    const a = await cli(['--train', fx('pairs.csv'), ...common, '--loss', 'TripletLoss', '--out', out()]);
    expect(a.code).toBe(2);
    expect(a.err).toMatch(/--loss must be one of MarginMSELoss, .*SupConLoss, got 'TripletLoss'/);
    const b = await cli(['--train', fx('pairs.csv'), ...common, '--loss', 'CoSENTLoss', '--out', out()]);
    expect(b.code).toBe(2);
    expect(b.err).toMatch(/CoSENTLoss cannot train pairs data/);
    const c = await cli(['--train', fx('labeled.csv'), ...common, '--out', out()]);
    expect(c.code).toBe(2);
    expect(c.err).toMatch(/labeled\.csv:1: ambiguous/);
    const d = await cli(['--train', fx('pairs.csv'), ...common, '--convention', 'docarray', '--out', out()]);
    expect(d.code).toBe(2);
    expect(d.err).toMatch(/--convention needs --eval-data/);
  });
});
