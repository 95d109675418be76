/**
 * Robustness suite, area 'options': every CLI command given invalid option values (negative, zero,
 * fractional, huge, NaN and non-numeric numbers, unknown enum values), missing required options,
 * conflicting combinations, paths that do not exist, a file where a folder is expected and the
 * reverse. Each run, in-process through runCli, ends in exit 2 with one line naming the option (or
 * the path), or — where the value is acceptable after all — the right result, checked.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { beforeAll, describe, it } from 'vitest';
import { readCsv, readTrainingData } from '../../lib/data';
import { Bm25Builder, evaluateRun, parseMetricNames } from '../../lib/evaluation';
import { loadEncoder } from '../../lib/models/encoder';
import { writeTinyModel } from '../../lib/models/tiny';
import { TextTokenizer } from '../../lib/models/tokenizer';
import { lossByName } from '../../lib/training/losses';
import { Adam, learningRate } from '../../lib/training/optim';
import { AdapterStudent } from '../../lib/training/students/adapter';
import { StaticStudent } from '../../lib/training/students/static';
import { writeWordPieceTokenizer } from '../../lib/models/wordpiece';
import { runCli } from '../helpers/cli';
import { scratchDirs } from '../helpers/models';
import { DOCS, QUERIES, writeTinyBeir } from '../helpers/tiny-beir';
import { classifyCall, classifyRun, record, type Expectation } from './outcome';

const AREA = 'options';

const tmp = scratchDirs('synthtune-robust-options-');
const root = tmp.sync();
const p = (...parts: string[]) => path.join(root, ...parts);
let n = 0;
const fresh = (name = 'out') => p(`${name}-${n++}`);

let beir = '';
let train = '';
let labeled = '';
let tokDir = '';
let modelDir = '';
let aFile = '';
const missing = p('does-not-exist');

beforeAll(() => {
  beir = writeTinyBeir(p('beir'));
  train = p('train.jsonl');
  fs.writeFileSync(train, QUERIES.map((q, i) => JSON.stringify({ query: q, positive: DOCS[3 * i], negative: DOCS[(3 * i + 4) % DOCS.length], margin: 0.8 })).join('\n') + '\n');
  labeled = p('labeled.csv');
  fs.writeFileSync(labeled, 'text,label\n' + DOCS.map((d, i) => `${d},t${Math.floor(i / 3)}`).join('\n') + '\n');
  tokDir = p('tok');
  writeWordPieceTokenizer(tokDir, [...DOCS, ...QUERIES], { vocabSize: 300 });
  modelDir = p('model');
  writeTinyModel(modelDir, { vocabSize: 300, texts: [...DOCS, ...QUERIES], shape: { hidden: 8, layers: 1, heads: 2, intermediate: 16, maxPosition: 64 } });
  aFile = p('a-file.txt');
  fs.writeFileSync(aFile, 'just a file\n');
}, 60_000);

/**
 * The run with stderr cut to the error: progress lines printed before it and the usage block after
 * it (a blank line apart) are not part of the message.
 */
async function cli(name: string, command: string, args: string[], want: Expectation): Promise<void> {
  const r = await runCli(command, args);
  const lines = r.err.split('\n');
  const at = lines.findIndex((l) => l.startsWith(`synthtune ${command}: `));
  const err = at < 0 ? r.err : lines.slice(at).join('\n').split('\n\n')[0];
  record(AREA, `${command} ${name}`, await classifyRun({ ...r, err }, want));
}

/** Each value of one numeric option that must be refused naming the option. */
function badNumbers(flag: string, values: string[]): [string, string, (string | RegExp)[]][] {
  return values.map((v) => [`--${flag} ${v}`, v, [`--${flag}`]]);
}
/** `--flag value`, or `--flag=value` for values starting with a dash (parseArgs reads `--flag -1` as two options). */
function opt(flag: string, v: string): string[] {
  return v.startsWith('-') ? [`--${flag}=${v}`] : [`--${flag}`, v];
}

// ---------------------------------------------------------------- evaluate

describe('evaluate', () => {
  const base = () => ['--data', beir, '--model', 'bm25', '--json'];
  const numeric: [string, string[]][] = [
    ['k', ['0', '-1', '1.5', 'abc', '', 'NaN']],
    ['k1', ['abc', 'NaN', 'Infinity', '-1']],
    ['b', ['abc', '-0.1', '1.5']],
    ['batch-size', ['0', '-4', '2.5', 'x']],
    ['size', ['0', '-1', 'x']],
    ['sampling-rate', ['0', '1.5', '-1', 'x']],
  ];
  for (const [flag, values] of numeric) {
    it.each(badNumbers(flag, values))('%s', async (name, v, mentions) => {
      const args = flag === 'size' || flag === 'sampling-rate' ? ['--query-data', labeled, '--model', 'bm25', ...opt(flag, v)] : [...base(), ...opt(flag, v)];
      await cli(name, 'evaluate', args, { mentions });
    });
  }
  const cases: [string, () => string[], (string | RegExp)[]][] = [
    ['no --data', () => ['--model', 'bm25'], ['--data']],
    ['no --model', () => ['--data', beir], ['--model']],
    ['--data and --query-data', () => ['--data', beir, '--query-data', labeled, '--model', 'bm25'], ['--data', '--query-data']],
    ['--index-data without --query-data', () => ['--data', beir, '--index-data', labeled, '--model', 'bm25'], ['--index-data']],
    ['--exclude-self and --no-exclude-self', () => [...base(), '--exclude-self', '--no-exclude-self'], ['--exclude-self']],
    ['--is-labeled and --no-is-labeled', () => ['--query-data', labeled, '--model', 'bm25', '--is-labeled', '--no-is-labeled'], ['--is-labeled']],
    ['--convention unknown', () => [...base(), '--convention', 'msmarco'], ['--convention', 'msmarco']],
    ['--metrics unknown', () => [...base(), '--metrics', 'ndcg,bogus'], ['--metrics', 'bogus']],
    ['--dialect unknown', () => ['--query-data', labeled, '--model', 'bm25', '--dialect', 'klingon'], ['--dialect', 'klingon']],
    ['unknown option', () => [...base(), '--frobnicate'], ['frobnicate']],
    ['--split that does not exist', () => [...base(), '--split', 'dev'], ['dev.tsv']],
    ['--data does not exist', () => ['--data', missing, '--model', 'bm25'], [missing]],
    ['--data a folder that is not BEIR', () => ['--data', tokDir, '--model', 'bm25'], [tokDir]],
    ['--query-data a folder', () => ['--query-data', tokDir, '--model', 'bm25'], [tokDir]],
    ['--query-data does not exist', () => ['--query-data', missing, '--model', 'bm25'], [missing]],
    ['--model does not exist', () => ['--data', beir, '--model', missing], [missing]],
    ['--model a file', () => ['--data', beir, '--model', aFile], [aFile]],
    ['--model a folder without a model', () => ['--data', beir, '--model', tokDir], [tokDir]],
    ['--save-run a folder', () => [...base(), '--save-run', tokDir], [tokDir]],
  ];
  it.each(cases)('%s', async (name, args, mentions) => {
    await cli(name, 'evaluate', args(), { mentions });
  });
  it('acceptable values give right results (huge --k, huge --batch-size, k1 0, b 0)', async () => {
    for (const extra of [['--k', '1000000000'], ['--batch-size', '1000000000'], ['--k1', '0', '--b', '0'], ['--k', '1,1,1'], ['--k', '3,,5']]) {
      const r = await runCli('evaluate', [...base(), ...extra]);
      record(AREA, `evaluate ${extra.join(' ')}`, await classifyRun(r, {
        correct: () => {
          const j = JSON.parse(r.out) as Record<string, number>;
          // every metric but DCG lies in [0, 1]; this collection's BM25 ranks both relevant documents first
          const values = Object.entries(j).filter(([k]) => !k.startsWith('dcg@')).map(([, x]) => x);
          const deep = extra[0] === '--k' && extra[1] === '1000000000' ? j['recall@1000000000'] === 1 && j['precision@1000000000'] === 2e-9 : true;
          const listed = extra[1] === '3,,5' ? Object.keys(j).every((k) => /@[35]$/.test(k)) : true;
          return values.length > 0 && values.every((x) => typeof x === 'number' && x >= 0 && x <= 1 + 1e-9) && deep && listed;
        },
      }));
    }
  });
  it('--save-run into a folder that does not exist yet: created, the run written', async () => {
    const run = p('no', 'such', 'run.txt');
    await cli('--save-run into a missing folder', 'evaluate', [...base(), '--save-run', run], {
      correct: () => fs.readFileSync(run, 'utf8').trim().split('\n').every((l) => l.split(' ').length === 6),
    });
  });
  it('a dense model with an invalid --batch-size and a damaged model name the problem', async () => {
    await cli('dense --batch-size 0', 'evaluate', ['--data', beir, '--model', modelDir, '--batch-size', '0'], { mentions: ['--batch-size'] });
    const bad = p('bad-model');
    fs.cpSync(modelDir, bad, { recursive: true });
    fs.writeFileSync(path.join(bad, 'tokenizer.json'), '{');
    await cli('dense model with bad tokenizer.json', 'evaluate', ['--data', beir, '--model', bad], { mentions: ['tokenizer.json'] });
  });
});

// ---------------------------------------------------------------- fit

describe('fit', () => {
  const staticArgs = () => ['--train', train, '--method', 'static', '--tokenizer', tokDir, '--out', fresh(), '--quiet'];
  const numeric: [string, string[]][] = [
    ['dim', ['0', '-3', '1.5', 'abc', 'Infinity']],
    ['epochs', ['0', '-1', 'x', '2.5']],
    ['lr', ['0', '-1', 'NaN', 'abc', 'Infinity']],
    ['batch-size', ['0', '-1', 'x']],
    ['seed', ['-1', 'x', '1.5']],
    ['weight-decay', ['-1', 'x']],
    ['warmup', ['-0.5', '1.5', 'x']],
    ['margin-scale', ['0', '-2', 'x']],
    ['max-examples', ['0', '-1', 'x']],
    ['loss-scale', ['0', '-1', 'x']],
  ];
  for (const [flag, values] of numeric) {
    it.each(badNumbers(flag, values))('%s', async (name, v, mentions) => {
      await cli(name, 'fit', [...staticArgs(), ...opt(flag, v)], { mentions });
    });
  }
  const cases: [string, () => string[], (string | RegExp)[]][] = [
    ['no --train', () => ['--method', 'static', '--tokenizer', tokDir, '--out', fresh()], ['--train']],
    ['no --out', () => ['--train', train, '--method', 'static', '--tokenizer', tokDir], ['--out']],
    ['--method unknown', () => ['--train', train, '--method', 'lora', '--out', fresh()], ['--method', 'lora']],
    ['--loss unknown', () => [...staticArgs(), '--loss', 'HingeLoss'], ['--loss', 'HingeLoss']],
    ['--score unknown', () => [...staticArgs(), '--score', 'l2'], ['--score', 'l2']],
    ['--optimizer unknown', () => [...staticArgs(), '--optimizer', 'sgd'], ['--optimizer', 'sgd']],
    ['--decay unknown', () => [...staticArgs(), '--decay', 'step'], ['--decay', 'step']],
    ['--init unknown', () => [...staticArgs(), '--init', 'xavier'], ['--init', 'xavier']],
    ['--device unknown', () => ['--train', train, '--method', 'full', '--model', modelDir, '--device', 'tpu', '--out', fresh()], ['--device', 'tpu']],
    ['--precision unknown', () => ['--train', train, '--method', 'full', '--model', modelDir, '--precision', 'fp8', '--out', fresh()], ['--precision', 'fp8']],
    ['--precision tf32 with --device cpu', () => ['--train', train, '--method', 'full', '--model', modelDir, '--precision', 'tf32', '--device', 'cpu', '--out', fresh()], ['--precision', '--device']],
    ['--max-length 1 (full)', () => ['--train', train, '--method', 'full', '--model', modelDir, '--max-length', '1', '--out', fresh()], ['--max-length']],
    ['--threads 0 (full)', () => ['--train', train, '--method', 'full', '--model', modelDir, '--threads', '0', '--out', fresh()], ['--threads']],
    ['--max-length with static', () => [...staticArgs(), '--max-length', '32'], ['--max-length']],
    ['--rank with static', () => [...staticArgs(), '--rank', '2'], ['--rank']],
    ['--dim with adapter', () => ['--train', train, '--method', 'adapter', '--model', modelDir, '--dim', '8', '--out', fresh()], ['--dim']],
    ['--init with adapter', () => ['--train', train, '--method', 'adapter', '--model', modelDir, '--init', 'idf', '--out', fresh()], ['--init']],
    ['adapter without --model', () => ['--train', train, '--method', 'adapter', '--out', fresh()], ['--model']],
    ['full without --model', () => ['--train', train, '--method', 'full', '--out', fresh()], ['--model']],
    ['static without --tokenizer or --model', () => ['--train', train, '--method', 'static', '--out', fresh()], ['--tokenizer']],
    ['--convention without --eval-data', () => [...staticArgs(), '--convention', 'trec'], ['--convention', '--eval-data']],
    ['--eval-split without --eval-data', () => [...staticArgs(), '--eval-split', 'test'], ['--eval-split']],
    ['--eval-split with a data file', () => [...staticArgs(), '--eval-data', labeled, '--eval-split', 'test'], ['--eval-split']],
    ['--metrics unknown', () => [...staticArgs(), '--eval-data', beir, '--metrics', 'bogus'], ['--metrics', 'bogus']],
    ['--k 0', () => [...staticArgs(), '--eval-data', beir, '--k', '0'], ['--k']],
    ['--train does not exist', () => ['--train', missing, '--method', 'static', '--tokenizer', tokDir, '--out', fresh()], [missing]],
    ['--train a folder without data', () => ['--train', tokDir, '--method', 'static', '--tokenizer', tokDir, '--out', fresh()], [tokDir]],
    ['--tokenizer does not exist', () => ['--train', train, '--method', 'static', '--tokenizer', missing, '--out', fresh()], [missing]],
    ['--tokenizer a file', () => ['--train', train, '--method', 'static', '--tokenizer', aFile, '--out', fresh()], [aFile]],
    ['--tokenizer a folder without tokenizer.json', () => ['--train', train, '--method', 'static', '--tokenizer', beir, '--out', fresh()], ['tokenizer.json']],
    ['--model does not exist (adapter)', () => ['--train', train, '--method', 'adapter', '--model', missing, '--out', fresh()], [missing]],
    ['--model a file (full)', () => ['--train', train, '--method', 'full', '--model', aFile, '--out', fresh()], [aFile]],
    ['--eval-data does not exist', () => [...staticArgs(), '--eval-data', missing], [missing]],
    ['--eval-data a BEIR folder without the split', () => [...staticArgs(), '--eval-data', beir, '--eval-split', 'dev'], ['--eval-data']],
    ['--out is a file', () => ['--train', train, '--method', 'static', '--tokenizer', tokDir, '--out', aFile, '--quiet'], [aFile]],
    ['unknown option', () => [...staticArgs(), '--frobnicate'], ['frobnicate']],
  ];
  it.each(cases)('%s', async (name, args, mentions) => {
    await cli(name, 'fit', args(), { mentions });
  });
  it('--dim 100000000 is refused with the memory it needs (not "Invalid typed array length")', async () => {
    await cli('--dim 100000000', 'fit', [...staticArgs(), '--dim', '100000000'], { mentions: ['--dim', 'GiB'] });
  });
  it('a static student with a 150k-token tokenizer trains (no "Maximum call stack size exceeded")', async () => {
    const big = p('big-tok');
    fs.cpSync(tokDir, big, { recursive: true });
    const j = JSON.parse(fs.readFileSync(path.join(big, 'tokenizer.json'), 'utf8'));
    let next = Object.keys(j.model.vocab).length;
    for (let i = 0; i < 150_000; i++) j.model.vocab[`zz${i}`] = next++;
    fs.writeFileSync(path.join(big, 'tokenizer.json'), JSON.stringify(j));
    const out = fresh('big');
    await cli('static with a 150k-token tokenizer', 'fit', ['--train', train, '--method', 'static', '--tokenizer', big, '--dim', '4', '--epochs', '1', '--out', out, '--quiet'], {
      correct: () => fs.existsSync(path.join(out, 'model', 'tokenizer.json')),
    });
  }, 60_000);
});

// ---------------------------------------------------------------- inspect, bench, demo, info, synthesize

describe('inspect, bench, demo, info, synthesize', () => {
  const cases: [string, string, () => string[], (string | RegExp)[]][] = [
    ['inspect', 'no path', () => [], [/usage|path|data/i]],
    ['inspect', 'a path that does not exist', () => [missing], [missing]],
    ['inspect', '--max-length 0', () => [labeled, '--tokenizer', tokDir, '--max-length', '0'], ['--max-length']],
    ['inspect', '--max-length x', () => [labeled, '--tokenizer', tokDir, '--max-length', 'x'], ['--max-length']],
    ['inspect', '--max-length without --tokenizer', () => [labeled, '--max-length', '16'], ['--max-length']],
    ['inspect', '--tokenizer does not exist', () => [labeled, '--tokenizer', missing], [missing]],
    ['inspect', '--tokenizer a file', () => [labeled, '--tokenizer', aFile], [aFile]],
    ['inspect', '--tokenizer a folder without tokenizer.json', () => [labeled, '--tokenizer', beir], ['tokenizer.json']],
    ['inspect', '--dialect unknown', () => [labeled, '--dialect', 'klingon'], ['--dialect']],
    ['inspect', '--sampling-rate 0', () => [labeled, '--sampling-rate', '0'], ['--sampling-rate']],
    ['inspect', '--size -1', () => [labeled, '--size=-1'], ['--size']],
    ['inspect', 'unknown option', () => [labeled, '--frobnicate'], ['frobnicate']],
    ['inspect', 'two paths', () => [labeled, train], [/path|one/i]],
    ['bench', 'unknown suite', () => ['warp-drive'], ['warp-drive']],
    ['bench', 'unknown option', () => ['kernels', '--frobnicate'], ['frobnicate']],
    ['bench', '--data does not exist', () => ['quality', '--data', missing], [missing]],
    ['bench', '--data a file', () => ['quality', '--data', aFile], [aFile]],
    ['demo', '--dim 0', () => ['--dim', '0', '--out', fresh()], ['--dim']],
    ['demo', '--dim -5', () => ['--dim=-5', '--out', fresh()], ['--dim']],
    ['demo', '--epochs x', () => ['--epochs', 'x', '--out', fresh()], ['--epochs']],
    ['demo', '--lr -1', () => ['--lr=-1', '--out', fresh()], ['--lr']],
    ['demo', '--lr NaN', () => ['--lr', 'NaN', '--out', fresh()], ['--lr']],
    ['demo', '--batch-size 0', () => ['--batch-size', '0', '--out', fresh()], ['--batch-size']],
    ['demo', '--num-relations 0', () => ['--num-relations', '0', '--out', fresh()], ['--num-relations']],
    ['demo', '--vocab-size 2', () => ['--vocab-size', '2', '--out', fresh()], ['--vocab-size']],
    ['demo', '--margin-scale x', () => ['--margin-scale', 'x', '--out', fresh()], ['--margin-scale']],
    ['demo', '--seed x', () => ['--seed', 'x', '--out', fresh()], ['--seed']],
    ['demo', '--dim 100000000', () => ['--dim', '100000000', '--out', fresh()], ['--dim']],
    ['demo', '--data does not exist', () => ['--data', missing, '--out', fresh()], [missing]],
    ['demo', '--data a file', () => ['--data', aFile, '--out', fresh()], [aFile]],
    ['demo', '--out is a file', () => ['--out', aFile], [aFile]],
    ['demo', 'unknown option', () => ['--frobnicate'], ['frobnicate']],
    ['info', 'unknown option', () => ['--frobnicate'], ['frobnicate']],
    ['synthesize', 'no --queries', () => ['--corpus', path.join(beir, 'corpus.jsonl'), '--out', fresh()], ['--queries']],
    ['synthesize', '--num-relations 0', () => ['--queries', path.join(beir, 'queries.jsonl'), '--corpus', path.join(beir, 'corpus.jsonl'), '--miner', 'bm25', '--scorer', 'bm25', '--num-relations', '0', '--out', fresh()], ['--num-relations']],
    ['synthesize', '--queries does not exist', () => ['--queries', missing, '--corpus', path.join(beir, 'corpus.jsonl'), '--miner', 'bm25', '--scorer', 'bm25', '--out', fresh()], [missing]],
    ['synthesize', '--corpus a folder', () => ['--queries', path.join(beir, 'queries.jsonl'), '--corpus', tokDir, '--miner', 'bm25', '--scorer', 'bm25', '--out', fresh()], [tokDir]],
  ];
  it.each(cases)('%s %s', async (command, name, args, mentions) => {
    await cli(name, command, args(), { mentions });
  });
  it('synthesize: an empty corpus text is an error naming it, never a silent "positive": ""', async () => {
    const corpus = p('empty-text-corpus.jsonl');
    fs.writeFileSync(corpus, '{"_id":"d1","text":"vaccine infection risk"}\n{"_id":"d2","text":""}\n{"_id":"d3","text":"protein folding"}\n');
    const out = fresh('empty');
    const r = await runCli('synthesize', ['--queries', path.join(beir, 'queries.jsonl'), '--corpus', corpus, '--miner', 'bm25', '--scorer', 'bm25', '--num-relations', '3', '--out', out]);
    record(AREA, 'synthesize with an empty corpus text', await classifyRun(r, {
      mentions: ['empty-text-corpus.jsonl'],
      correct: () => fs.readFileSync(path.join(out, 'train.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).every((row) => row.positive.trim() && (row.negative ?? 'x').trim()),
    }));
  });
});

// ---------------------------------------------------------------- library option objects

describe('library option objects', () => {
  it('invalid options of library calls are user errors naming the option', async () => {
    const cases: [string, () => unknown, (string | RegExp)[]][] = [
      ['readTrainingData size 0', () => readTrainingData(labeled, { size: 0 }), ['size']],
      ['readTrainingData size 1.5', () => readTrainingData(labeled, { size: 1.5 }), ['size']],
      ['readTrainingData samplingRate 0', () => readTrainingData(labeled, { samplingRate: 0 }), ['samplingRate']],
      ['readTrainingData samplingRate NaN', () => readTrainingData(labeled, { samplingRate: NaN }), ['samplingRate']],
      ['readTrainingData unknown dialect', () => readTrainingData(labeled, { dialect: 'klingon' as 'excel' }), ['klingon']],
      ['readTrainingData unknown encoding', () => readTrainingData(labeled, { encoding: 'klingon' }), ['klingon']],
      ['readCsv isLabeled false with a label header', () => readCsv(labeled, { isLabeled: false }), ['labeled.csv:1:', 'isLabeled']],
      ['Bm25Builder k1 -1', () => new Bm25Builder({ k1: -1 }).build(), ['k1']],
      ['Bm25Builder b 2', () => new Bm25Builder({ b: 2 }).build(), ['b']],
      ['Bm25Index search k 0', () => { const b = new Bm25Builder(); b.add('d', 'a b'); return b.build().search('a', 0); }, ['k']],
      ['parseMetricNames unknown', () => parseMetricNames('ndcg,bogus'), ['bogus']],
      ['parseMetricNames twice', () => parseMetricNames('ndcg,ndcg'), ['ndcg']],
      ['evaluateRun ks empty', () => evaluateRun(new Map([['q', ['d']]]), new Map([['q', new Map([['d', 1]])]]), { ks: [] }), ['ks']],
      ['evaluateRun ks 0', () => evaluateRun(new Map([['q', ['d']]]), new Map([['q', new Map([['d', 1]])]]), { ks: [0] }), ['ks']],
      ['loadEncoder batchSize 0', () => loadEncoder(modelDir, { batchSize: 0 }), ['batchSize']],
      ['loadEncoder pooling unknown', () => loadEncoder(modelDir, { pooling: 'klingon' as 'mean' }), ['pooling', 'klingon']],
      ['TextTokenizer maxLength 1', () => TextTokenizer.fromFolder(modelDir, { maxLength: 1 }), ['maxLength']],
      ['TextTokenizer maxLength 2 (no room for a pair)', () => TextTokenizer.fromFolder(modelDir, { maxLength: 2 }), ['maxLength']],
      ['StaticStudent dim 0', () => new StaticStudent({ vocabSize: 10, dim: 0 }), ['dim']],
      ['StaticStudent dim 1e8 × vocab 300', () => new StaticStudent({ vocabSize: 300, dim: 1e8 }), ['dim', 'GiB']],
      ['AdapterStudent dim -1', () => new AdapterStudent({ dim: -1 }), ['dim']],
      ['AdapterStudent rank > dim', () => new AdapterStudent({ dim: 4, rank: 9 }), ['rank']],
      ['lossByName unknown', () => lossByName('HingeLoss' as 'CoSENTLoss'), ['HingeLoss']],
      ['Adam unknown name', () => new Adam({ name: 'SGD' as 'Adam' }), ['SGD']],
      ['Adam beta1 1', () => new Adam({ beta1: 1 }), ['beta1']],
      ['Adam eps 0', () => new Adam({ eps: 0 }), ['eps']],
      ['Adam weightDecay -1', () => new Adam({ weightDecay: -1 }), ['weightDecay']],
      ['learningRate unknown decay', () => learningRate(1, 1, 10, { decay: 'step' as 'linear' }), ['step']],
      ['learningRate warmup -1', () => learningRate(1, 1, 10, { warmup: -1 }), ['warmup']],
    ];
    for (const [name, f, mentions] of cases) record(AREA, `library: ${name}`, await classifyCall(f, { mentions }));
  });
});

// ---------------------------------------------------------------- synthesize (lib/cli/synthesize.ts)

describe('synthesize', () => {
  const q = () => path.join(beir, 'queries.jsonl');
  const c = () => path.join(beir, 'corpus.jsonl');
  const base = () => ['--queries', q(), '--corpus', c(), '--miner', 'bm25', '--scorer', 'bm25', '--out', fresh('syn'), '--progress', 'none'];
  const numeric: [string, string[]][] = [
    ['num-relations', ['0', '1', '-2', 'x', '1.5']],
    ['hnsw-m', ['0', 'x']],
    ['ef-construction', ['0', 'x']],
    ['ef-search', ['0', 'x']],
    ['threads', ['-1', 'x']],
    ['sample-negatives', ['0', 'x']],
    ['seed', ['x', '-1']],
    ['max-documents', ['0', 'x']],
    ['batch-size', ['0', 'x']],
    ['score-batch-size', ['0', 'x']],
    ['generate-queries', ['0', 'x']],
    ['sample-documents', ['0', 'x']],
  ];
  for (const [flag, values] of numeric) {
    it.each(badNumbers(flag, values))('%s', async (name, v, mentions) => {
      await cli(name, 'synthesize', [...base(), ...opt(flag, v)], { mentions });
    });
  }
  const cases: [string, () => string[], (string | RegExp)[]][] = [
    ['no --corpus', () => ['--queries', q(), '--miner', 'bm25', '--scorer', 'bm25', '--out', fresh('syn')], ['--corpus']],
    ['no --out', () => ['--queries', q(), '--corpus', c(), '--miner', 'bm25', '--scorer', 'bm25'], ['--out']],
    ['no --scorer', () => ['--queries', q(), '--corpus', c(), '--miner', 'bm25', '--out', fresh('syn')], ['--scorer']],
    ['--index unknown', () => [...base(), '--index', 'faiss'], ['--index', 'faiss']],
    ['--progress unknown', () => [...base(), '--progress', 'loud'], ['--progress', 'loud']],
    ['--generation-methods unknown', () => [...base(), '--generate-queries', '1', '--generation-methods', 'magic'], ['magic']],
    ['--replace-queries without --generate-queries', () => [...base(), '--replace-queries'], ['--replace-queries']],
    ['--query-split with a file', () => [...base(), '--query-split', 'test'], ['--query-split']],
    ['--miner a missing folder', () => ['--queries', q(), '--corpus', c(), '--miner', missing, '--scorer', 'bm25', '--out', fresh('syn')], [missing]],
    ['--scorer a file', () => ['--queries', q(), '--corpus', c(), '--miner', 'bm25', '--scorer', aFile, '--out', fresh('syn')], [aFile]],
    ['--scorer a bi-encoder folder', () => ['--queries', q(), '--corpus', c(), '--miner', 'bm25', '--scorer', modelDir, '--out', fresh('syn'), '--progress', 'none'], [modelDir]],
    ['--out is a file', () => ['--queries', q(), '--corpus', c(), '--miner', 'bm25', '--scorer', 'bm25', '--out', aFile], [aFile]],
    ['unknown option', () => [...base(), '--frobnicate'], ['frobnicate']],
  ];
  it.each(cases)('%s', async (name, args, mentions) => {
    await cli(name, 'synthesize', args(), { mentions });
  });
  it('acceptable values: --threads 0 (all cores), --restart with --overwrite, --num-relations above the corpus size', async () => {
    for (const extra of [['--threads', '0'], ['--restart', '--overwrite'], ['--num-relations', '1000']]) {
      const out = fresh('syn-ok');
      const args = [...base().slice(0, -4), '--out', out, '--progress', 'none', ...extra];
      await cli(extra.join(' '), 'synthesize', args, {
        correct: () => {
          const rows = fs.readFileSync(path.join(out, 'train.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
          return rows.length > 0 && rows.every((r) => r.query.trim() && r.positive.trim() && (r.negatives ?? [r.negative]).every((x: string) => x.trim()) && (r.margins ?? [r.margin]).every(Number.isFinite));
        },
      });
    }
  });
});
