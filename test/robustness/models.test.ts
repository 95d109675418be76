/**
 * Robustness suite, area 'model files': every file of a model folder damaged in generated ways
 * (config.json, tokenizer.json, tokenizer_config.json, modules.json, sentence_bert_config.json,
 * 1_Pooling/config.json, model.safetensors, onnx/model.onnx; seeded truncation and byte damage of
 * the binary files) and read by each reader that uses it: the tokenizer, the ONNX encoder, the native
 * encoder (a safetensors-only folder), the weight importer behind method 'full'. Each case ends in
 * the right result (the embeddings of the intact folder, or finite embeddings of the right size where
 * the damage changes weights only) or a user error naming the file (and the field where one is at fault).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { beforeAll, describe, it } from 'vitest';
import { loadCrossEncoder } from '../../lib/models/cross-encoder';
import { loadEncoder } from '../../lib/models/encoder';
import { loadQueryGenerator } from '../../lib/models/seq2seq';
import { encodeSafetensors, readFolderWeights } from '../../lib/models/import';
import { readModelFolder, writeSentenceTransformersFilesSync } from '../../lib/models/st-folder';
import { writeModelFolder, writeTinyModel } from '../../lib/models/tiny';
import { TextTokenizer } from '../../lib/models/tokenizer';
import { mulberry32 } from '../../lib/training/rng';
import { FullStudent } from '../../lib/training/students/full';
import { scratchDirs } from '../helpers/models';
import { runCli } from '../helpers/cli';
import { classifyCall, classifyRun, record } from './outcome';

const AREA = 'model files';

const tmp = scratchDirs('synthtune-robust-models-');
const root = tmp.sync();
const TEXTS = ['hello world', 'the quick brown fox'];
const SHAPE = { hidden: 8, layers: 1, heads: 2, intermediate: 16, maxPosition: 32 };

let onnxDir = '';
let stDir = '';
let want: Float32Array;
let wantNative: Float32Array;
let n = 0;

/** A fresh copy of a folder with one change made by `edit`; returns the copy. */
function variant(from: string, edit: (dir: string) => void): string {
  const d = path.join(root, `v${n++}`);
  fs.cpSync(from, d, { recursive: true });
  edit(d);
  return d;
}
const write = (dir: string, f: string, content: string | Uint8Array) => fs.writeFileSync(path.join(dir, f), content);
const json = (dir: string, f: string) => JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8'));
const patch = (f: string, change: (j: Record<string, unknown>) => void) => (dir: string) => {
  const j = json(dir, f);
  change(j);
  write(dir, f, JSON.stringify(j));
};

function close(a: Float32Array, b: Float32Array): boolean {
  return a.length === b.length && a.every((x, i) => Math.abs(x - b[i]) < 1e-4);
}
const finite = (a: Float32Array, len: number) => a.length === len && a.every(Number.isFinite);

async function encodeWith(dir: string): Promise<Float32Array> {
  const enc = await loadEncoder(dir, { batchSize: 2 });
  try {
    return await enc.encode(TEXTS);
  } finally {
    await enc.release?.();
  }
}

/**
 * One damaged folder read by the encoder: the intact output (`same`), finite output of the right
 * size (`finite`), or a clear error mentioning `mentions`.
 */
async function encoderCase(name: string, dir: string, mentions: (string | RegExp)[], ok: 'same' | 'finite' | 'none', native = false): Promise<void> {
  let got: Float32Array | undefined;
  const base = native ? wantNative : want;
  record(AREA, name, await classifyCall(async () => { got = await encodeWith(dir); }, {
    mentions,
    correct: ok === 'none' ? undefined : () => (ok === 'same' ? close(got!, base) : finite(got!, base.length)),
  }));
}

beforeAll(async () => {
  onnxDir = path.join(root, 'onnx-model');
  const m = writeTinyModel(onnxDir, { vocabSize: 200, shape: SHAPE, seed: 3 });
  stDir = variant(onnxDir, (d) => {
    fs.rmSync(path.join(d, 'onnx'), { recursive: true });
    write(d, 'model.safetensors', encodeSafetensors(m.weights));
  });
  want = await encodeWith(onnxDir);
  wantNative = await encodeWith(stDir);
}, 60_000);

// ---------------------------------------------------------------- config.json

const CONFIG_CASES: [string, (d: string) => void, (string | RegExp)[]][] = [
  ['bad JSON', (d) => write(d, 'config.json', '{"model_type": "bert",'), ['config.json']],
  ['bad JSON on line 3 of a pretty-printed file', (d) => write(d, 'config.json', '{\n  "model_type": "bert",\n  "hidden_size": 8x,\n  "vocab_size": 200\n}'), ['config.json:3:']],
  ['empty file', (d) => write(d, 'config.json', ''), ['config.json']],
  ['a JSON array', (d) => write(d, 'config.json', '[1, 2]'), ['config.json']],
  ['null', (d) => write(d, 'config.json', 'null'), ['config.json']],
  ['hidden_size a string', patch('config.json', (j) => { j.hidden_size = '8'; }), ['config.json', 'hidden_size']],
  ['vocab_size missing', patch('config.json', (j) => { delete j.vocab_size; }), ['config.json', 'vocab_size']],
  ['num_hidden_layers null', patch('config.json', (j) => { j.num_hidden_layers = null; }), ['config.json', 'num_hidden_layers']],
  ['hidden_size 0', patch('config.json', (j) => { j.hidden_size = 0; }), ['config.json', 'hidden_size']],
  ['hidden_size -8', patch('config.json', (j) => { j.hidden_size = -8; }), ['config.json', 'hidden_size']],
  ['hidden_size 8.5', patch('config.json', (j) => { j.hidden_size = 8.5; }), ['config.json', 'hidden_size']],
  ['num_attention_heads 0', patch('config.json', (j) => { j.num_attention_heads = 0; }), ['config.json', 'num_attention_heads']],
  ['num_attention_heads 3 (does not divide hidden)', patch('config.json', (j) => { j.num_attention_heads = 3; }), ['config.json', /num_attention_heads|hidden_size/]],
  ['num_hidden_layers -1', patch('config.json', (j) => { j.num_hidden_layers = -1; }), ['config.json', 'num_hidden_layers']],
  ['intermediate_size 0', patch('config.json', (j) => { j.intermediate_size = 0; }), ['config.json', 'intermediate_size']],
  ['vocab_size 1e12', patch('config.json', (j) => { j.vocab_size = 1e12; }), ['config.json', /GB|vocab_size/]],
  ['hidden_size 1e9', patch('config.json', (j) => { j.hidden_size = 1e9; }), ['config.json', /GB|hidden_size/]],
  ['a 32 GB BERT (vocab 250k, hidden 4096, 32 layers)', patch('config.json', (j) => { Object.assign(j, { vocab_size: 250000, hidden_size: 4096, num_attention_heads: 32, num_hidden_layers: 32, intermediate_size: 16384 }); }), [/GB|shape/]],
  ['a 1 TB BERT (vocab 250k, hidden 16384, 300 layers)', patch('config.json', (j) => { Object.assign(j, { vocab_size: 250000, hidden_size: 16384, num_attention_heads: 64, num_hidden_layers: 300, intermediate_size: 65536 }); }), ['config.json', 'GB']],
  ['num_hidden_layers 1e6', patch('config.json', (j) => { j.num_hidden_layers = 1e6; }), ['config.json', /GB|num_hidden_layers/]],
  ['max_position_embeddings 1', patch('config.json', (j) => { j.max_position_embeddings = 1; }), ['config.json', 'max_position_embeddings']],
  ['max_position_embeddings 0', patch('config.json', (j) => { j.max_position_embeddings = 0; }), ['config.json', 'max_position_embeddings']],
  ['max_position_embeddings -5', patch('config.json', (j) => { j.max_position_embeddings = -5; }), ['config.json', 'max_position_embeddings']],
  ['max_position_embeddings 1e12', patch('config.json', (j) => { j.max_position_embeddings = 1e12; }), ['config.json', /max_position_embeddings|GB/]],
  ['max_position_embeddings "512"', patch('config.json', (j) => { j.max_position_embeddings = '512'; }), ['config.json', 'max_position_embeddings']],
  ['layer_norm_eps -1', patch('config.json', (j) => { j.layer_norm_eps = -1; }), ['config.json', 'layer_norm_eps']],
  ['type_vocab_size -1', patch('config.json', (j) => { j.type_vocab_size = -1; }), ['config.json', 'type_vocab_size']],
  ['unknown model_type', patch('config.json', (j) => { j.model_type = 'gpt2'; }), ['config.json', 'gpt2']],
  ['model_type a number', patch('config.json', (j) => { j.model_type = 42; }), ['config.json', 'model_type']],
  ['hidden_act relu', patch('config.json', (j) => { j.hidden_act = 'relu'; }), ['config.json', 'hidden_act']],
];

describe('config.json', () => {
  it.each(CONFIG_CASES)('%s: ONNX encoder, native encoder, weight import', async (name, edit, mentions) => {
    // the ONNX graph fixes the model: a config it does not need may be ignored (same output), never misused
    await encoderCase(`config.json ${name} (ONNX encoder)`, variant(onnxDir, edit), mentions, 'same');
    await encoderCase(`config.json ${name} (native encoder)`, variant(stDir, edit), mentions, 'same', true);
    const d = variant(onnxDir, edit);
    let cfgOk = false;
    record(AREA, `config.json ${name} (weight import)`, await classifyCall(() => { cfgOk = readFolderWeights(d).config.hidden === SHAPE.hidden; }, {
      mentions, correct: () => cfgOk,
    }));
  });
});

// ---------------------------------------------------------------- tokenizer files

/** A tokenizer.json with `extra` more tokens (ids after the folder's own). */
function bigVocab(dir: string, extra: number): void {
  const j = json(dir, 'tokenizer.json');
  const vocab = j.model.vocab as Record<string, number>;
  let next = Object.keys(vocab).length;
  for (let i = 0; i < extra; i++) vocab[`zz${i}`] = next++;
  write(dir, 'tokenizer.json', JSON.stringify(j));
}

const TOKENIZER_CASES: [string, (d: string) => void, (string | RegExp)[], 'same' | 'finite' | 'none'][] = [
  ['bad JSON', (d) => write(d, 'tokenizer.json', '{"model": {'), ['tokenizer.json'], 'none'],
  ['empty file', (d) => write(d, 'tokenizer.json', ''), ['tokenizer.json'], 'none'],
  ['a JSON array', (d) => write(d, 'tokenizer.json', '[]'), ['tokenizer.json'], 'none'],
  ['no model', patch('tokenizer.json', (j) => { delete j.model; }), ['tokenizer.json', 'model'], 'none'],
  ['model null', patch('tokenizer.json', (j) => { j.model = null; }), ['tokenizer.json', 'model'], 'none'],
  ['unknown model type', patch('tokenizer.json', (j) => { (j.model as Record<string, unknown>).type = 'Klingon'; }), ['tokenizer.json', 'Klingon'], 'none'],
  ['model without vocab', patch('tokenizer.json', (j) => { delete (j.model as Record<string, unknown>).vocab; }), ['tokenizer.json', 'vocab'], 'none'],
  ['vocab an array', patch('tokenizer.json', (j) => { (j.model as Record<string, unknown>).vocab = ['a', 'b']; }), ['tokenizer.json'], 'none'],
  ['no decoder', patch('tokenizer.json', (j) => { delete j.decoder; }), [], 'same'],
  ['decoder null', patch('tokenizer.json', (j) => { j.decoder = null; }), [], 'same'],
  ['unknown normalizer type', patch('tokenizer.json', (j) => { j.normalizer = { type: 'Klingon' }; }), ['tokenizer.json', 'Klingon'], 'none'],
  ['unknown pre_tokenizer type', patch('tokenizer.json', (j) => { j.pre_tokenizer = { type: 'Klingon' }; }), ['tokenizer.json', 'Klingon'], 'none'],
  ['unknown post_processor type', patch('tokenizer.json', (j) => { j.post_processor = { type: 'Klingon' }; }), ['tokenizer.json', 'Klingon'], 'none'],
  ['token ids past the model vocabulary', (d) => bigVocab(d, 500), ['tokenizer.json', /vocab/], 'finite'],
  ['tokenizer.json missing', (d) => fs.rmSync(path.join(d, 'tokenizer.json')), ['tokenizer.json'], 'none'],
  ['tokenizer.json is a folder', (d) => { fs.rmSync(path.join(d, 'tokenizer.json')); fs.mkdirSync(path.join(d, 'tokenizer.json')); }, ['tokenizer.json'], 'none'],
  ['tokenizer_config.json bad JSON', (d) => write(d, 'tokenizer_config.json', '{'), ['tokenizer_config.json'], 'none'],
  ['tokenizer_config.json an array', (d) => write(d, 'tokenizer_config.json', '[1]'), ['tokenizer_config.json'], 'none'],
  ['tokenizer_config.json missing', (d) => fs.rmSync(path.join(d, 'tokenizer_config.json')), [], 'same'],
  ['tokenizer_config.json model_max_length 1', patch('tokenizer_config.json', (j) => { j.model_max_length = 1; }), ['model_max_length'], 'none'],
  ['tokenizer_config.json model_max_length -3', patch('tokenizer_config.json', (j) => { j.model_max_length = -3; }), ['model_max_length'], 'same'],
  ['tokenizer_config.json model_max_length "x"', patch('tokenizer_config.json', (j) => { j.model_max_length = 'x'; }), ['model_max_length'], 'same'],
  ['tokenizer_config.json model_max_length 1e30', patch('tokenizer_config.json', (j) => { j.model_max_length = 1e30; }), [], 'same'],
  ['tokenizer_config.json unknown pad_token', patch('tokenizer_config.json', (j) => { j.pad_token = '<nope>'; }), ['pad_token'], 'same'],
  ['tokenizer_config.json pad_token a number', patch('tokenizer_config.json', (j) => { j.pad_token = 5; }), ['pad_token'], 'same'],
  ['tokenizer_config.json do_lower_case "yes"', patch('tokenizer_config.json', (j) => { j.do_lower_case = 'yes'; }), ['do_lower_case'], 'same'],
];

describe('tokenizer.json and tokenizer_config.json', () => {
  it.each(TOKENIZER_CASES)('%s', async (name, edit, mentions, ok) => {
    const d = variant(onnxDir, edit);
    let ids: number[] | undefined;
    record(AREA, `${name} (tokenizer)`, await classifyCall(() => { ids = TextTokenizer.fromFolder(d).encode(TEXTS[0]).ids; }, {
      mentions, correct: ok === 'none' ? undefined : () => Array.isArray(ids) || ArrayBuffer.isView(ids),
    }));
    await encoderCase(`${name} (ONNX encoder)`, d, mentions, ok);
    await encoderCase(`${name} (native encoder)`, variant(stDir, edit), mentions, ok, true);
  });
  it('a tokenizer with tokens past the model vocabulary: texts using them are refused naming both files', async () => {
    const d = variant(onnxDir, (dd) => bigVocab(dd, 50));
    const st = variant(stDir, (dd) => bigVocab(dd, 50));
    for (const [name, dir, native] of [['ONNX', d, false], ['native', st, true]] as const) {
      let got: Float32Array | undefined;
      record(AREA, `tokenizer.json past the vocabulary, in-vocabulary texts (${name} encoder)`, await classifyCall(async () => { got = await encodeWith(dir); }, { correct: () => close(got!, native ? wantNative : want) }));
      record(AREA, `tokenizer.json past the vocabulary, a text using the extra tokens (${name} encoder)`, await classifyCall(async () => {
        const enc = await loadEncoder(dir);
        try {
          await enc.encode(['hello zz7 zz40']);
        } finally {
          await enc.release?.();
        }
      }, { mentions: ['tokenizer.json', 'vocab_size'] }));
    }
  });
  it('a tokenizer of 150k tokens with a model of that size encodes (no call-stack overflow)', async () => {
    const tokDir = variant(onnxDir, (d) => bigVocab(d, 150_000));
    const tok = { tokenizerJson: json(tokDir, 'tokenizer.json'), tokenizerConfig: json(tokDir, 'tokenizer_config.json') };
    const d = path.join(root, 'big-vocab');
    writeTinyModel(d, { tokenizer: tok, shape: { ...SHAPE, layers: 1 }, seed: 5 });
    let got: Float32Array | undefined;
    record(AREA, 'tokenizer.json with 150k tokens (ONNX encoder)', await classifyCall(async () => { got = await encodeWith(d); }, { correct: () => finite(got!, want.length) }));
  }, 60_000);
});

// ---------------------------------------------------------------- sentence-transformers files

const ST_CASES: [string, (d: string) => void, (string | RegExp)[], 'same' | 'finite' | 'none'][] = [
  ['modules.json bad JSON', (d) => write(d, 'modules.json', '[{'), ['modules.json'], 'none'],
  ['modules.json an object', (d) => write(d, 'modules.json', '{"a": 1}'), ['modules.json'], 'none'],
  ['modules.json entry without type', (d) => write(d, 'modules.json', '[{"idx": 0, "path": ""}]'), ['modules.json', 'type'], 'none'],
  ['modules.json entry null', (d) => write(d, 'modules.json', '[null]'), ['modules.json'], 'none'],
  ['modules.json unknown module type', patch('modules.json', (j) => { (j as unknown as unknown[]).push({ idx: 9, name: '9', path: '9_X', type: 'sentence_transformers.models.Klingon' }); }), ['modules.json', 'Klingon'], 'none'],
  ['modules.json Pooling path missing (sentence-transformers defaults to mean)', (d) => fs.rmSync(path.join(d, '1_Pooling'), { recursive: true }), ['1_Pooling'], 'same'],
  ['modules.json Dense folder missing', patch('modules.json', (j) => { (j as unknown as unknown[]).push({ idx: 2, name: '2', path: '2_Dense', type: 'sentence_transformers.models.Dense' }); }), ['2_Dense'], 'none'],
  ['sentence_bert_config.json bad JSON', (d) => write(d, 'sentence_bert_config.json', '{"max_seq_length": '), ['sentence_bert_config.json'], 'none'],
  ['sentence_bert_config.json max_seq_length 1', (d) => write(d, 'sentence_bert_config.json', '{"max_seq_length": 1}'), ['max_seq_length'], 'none'],
  ['sentence_bert_config.json max_seq_length 0', (d) => write(d, 'sentence_bert_config.json', '{"max_seq_length": 0}'), ['max_seq_length'], 'same'],
  ['sentence_bert_config.json max_seq_length "x"', (d) => write(d, 'sentence_bert_config.json', '{"max_seq_length": "x"}'), ['max_seq_length'], 'same'],
  ['sentence_bert_config.json max_seq_length 1e9', (d) => write(d, 'sentence_bert_config.json', '{"max_seq_length": 1e9}'), [], 'same'],
  ['1_Pooling/config.json bad JSON', (d) => write(d, '1_Pooling/config.json', '{'), ['1_Pooling'], 'none'],
  ['1_Pooling/config.json an array', (d) => write(d, '1_Pooling/config.json', '[]'), ['1_Pooling'], 'none'],
  ['1_Pooling/config.json no mode (sentence-transformers defaults to mean)', (d) => write(d, '1_Pooling/config.json', '{"word_embedding_dimension": 8}'), ['1_Pooling'], 'same'],
  ['1_Pooling/config.json unknown mode', (d) => write(d, '1_Pooling/config.json', '{"word_embedding_dimension": 8, "pooling_mode": "klingon"}'), ['1_Pooling', 'klingon'], 'none'],
  ['1_Pooling/config.json wrong dimension', (d) => write(d, '1_Pooling/config.json', '{"word_embedding_dimension": 99, "pooling_mode_mean_tokens": true}'), ['1_Pooling', '99'], 'none'],
  ['1_Pooling/config.json dimension a string', (d) => write(d, '1_Pooling/config.json', '{"word_embedding_dimension": "8", "pooling_mode_mean_tokens": true}'), ['1_Pooling', 'word_embedding_dimension'], 'none'],
];

describe('sentence-transformers files', () => {
  it.each(ST_CASES)('%s', async (name, edit, mentions, ok) => {
    const d = variant(onnxDir, edit);
    record(AREA, `${name} (readModelFolder)`, await classifyCall(() => readModelFolder(d), { mentions, correct: () => true }));
    await encoderCase(`${name} (ONNX encoder)`, d, mentions, ok);
    await encoderCase(`${name} (native encoder)`, variant(stDir, edit), mentions, ok, true);
  });
});

// ---------------------------------------------------------------- weights: model.safetensors and model.onnx

/** Seeded damage of a binary file: truncation at k offsets and k byte replacements (header and data). */
function damaged(bytes: Uint8Array, seed: number, k: number, headerBytes: number): { name: string; bytes: Uint8Array; inHeader: boolean }[] {
  const rnd = mulberry32(seed);
  const out: { name: string; bytes: Uint8Array; inHeader: boolean }[] = [];
  for (let i = 0; i < k; i++) {
    const t = Math.floor(rnd() * bytes.length);
    out.push({ name: `truncated at ${t} of ${bytes.length}`, bytes: bytes.slice(0, t), inHeader: true });
  }
  for (let i = 0; i < k; i++) {
    const at = i % 2 === 0 ? Math.floor(rnd() * headerBytes) : Math.floor(rnd() * bytes.length);
    const b = bytes.slice();
    b[at] = Math.floor(rnd() * 256);
    out.push({ name: `byte ${at} replaced`, bytes: b, inHeader: at < headerBytes });
  }
  return out;
}

describe('model.safetensors', () => {
  it('structural damage: bad header, wrong dtype, wrong shape, offsets outside the data', async () => {
    const st = () => fs.readFileSync(path.join(stDir, 'model.safetensors'));
    const header = () => {
      const b = st();
      const len = Number(b.readBigUInt64LE(0));
      return { b, len, h: JSON.parse(b.subarray(8, 8 + len).toString('utf8')) as Record<string, { dtype: string; shape: number[]; data_offsets: number[] }> };
    };
    const withHeader = (change: (h: Record<string, { dtype: string; shape: number[]; data_offsets: number[] }>) => void) => (d: string) => {
      const { b, len, h } = header();
      change(h);
      const hb = Buffer.from(JSON.stringify(h));
      const lenb = Buffer.alloc(8);
      lenb.writeBigUInt64LE(BigInt(hb.length));
      write(d, 'model.safetensors', Buffer.concat([lenb, hb, b.subarray(8 + len)]));
    };
    const first = (h: Record<string, unknown>) => Object.keys(h).find((k) => k !== '__metadata__')!;
    const cases: [string, (d: string) => void][] = [
      ['empty file', (d) => write(d, 'model.safetensors', '')],
      ['header length past the end', (d) => { const b = st(); b.writeBigUInt64LE(BigInt(b.length * 2), 0); write(d, 'model.safetensors', b); }],
      ['header length 2^63', (d) => { const b = st(); b.writeBigUInt64LE(2n ** 63n, 0); write(d, 'model.safetensors', b); }],
      ['header not JSON', (d) => { const b = st(); b.fill(0x7b, 8, 40); write(d, 'model.safetensors', b); }],
      ['header a JSON array', (d) => { const hb = Buffer.from('[1,2]'); const l = Buffer.alloc(8); l.writeBigUInt64LE(BigInt(hb.length)); write(d, 'model.safetensors', Buffer.concat([l, hb])); }],
      ['dtype I64', withHeader((h) => { h[first(h)].dtype = 'I64'; })],
      ['dtype F8_E4M3', withHeader((h) => { h[first(h)].dtype = 'F8_E4M3'; })],
      ['dtype a number', withHeader((h) => { (h[first(h)] as { dtype: unknown }).dtype = 7; })],
      ['shape wrong', withHeader((h) => { const t = h['embeddings.word_embeddings.weight'] ?? h[first(h)]; t.shape = [t.shape[0] * 2, t.shape[1] / 2]; })],
      ['shape holds fewer values than the offsets', withHeader((h) => { const t = h[first(h)]; t.shape = [1]; })],
      ['shape negative', withHeader((h) => { const t = h[first(h)]; t.shape = [-1, ...t.shape.slice(1)]; })],
      ['offsets past the data', withHeader((h) => { const t = h[first(h)]; t.data_offsets = [0, 1e12]; })],
      ['offsets reversed', withHeader((h) => { const t = h[first(h)]; t.data_offsets = [t.data_offsets[1], t.data_offsets[0]]; })],
      ['a tensor missing', withHeader((h) => { delete h[first(h)]; })],
    ];
    for (const [name, edit] of cases) {
      const d = variant(stDir, edit);
      record(AREA, `model.safetensors ${name} (weight import)`, await classifyCall(() => readFolderWeights(d), { mentions: ['model.safetensors'] }));
      await encoderCase(`model.safetensors ${name} (native encoder)`, d, ['model.safetensors'], 'none', true);
    }
  }, 60_000);
  it('seeded truncation and byte damage', async () => {
    const bytes = new Uint8Array(fs.readFileSync(path.join(stDir, 'model.safetensors')));
    const headerBytes = 8 + Number(Buffer.from(bytes).readBigUInt64LE(0));
    for (const c of damaged(bytes, 11, 8, headerBytes)) {
      const d = variant(stDir, (dd) => write(dd, 'model.safetensors', c.bytes));
      await encoderCase(`model.safetensors ${c.name} (native encoder)`, d, ['model.safetensors'], c.inHeader ? 'none' : 'finite', true);
    }
  }, 60_000);
});

describe('non-finite weights', () => {
  it('a NaN or Inf weight is refused by name (safetensors) or caught in the embeddings (ONNX), never returned as NaN', async () => {
    const m = writeTinyModel(path.join(root, 'nan-src'), { vocabSize: 200, shape: SHAPE, seed: 3 });
    for (const bad of [NaN, Infinity]) {
      const w = new Map(m.weights);
      const t = w.get('encoder.layer.0.attention.self.query.weight')!;
      const data = t.data.slice();
      data[5] = bad;
      w.set('encoder.layer.0.attention.self.query.weight', { ...t, data });
      const st = variant(stDir, (d) => write(d, 'model.safetensors', encodeSafetensors(w)));
      await encoderCase(`model.safetensors with a ${bad} weight (native encoder)`, st, ['model.safetensors', String(bad)], 'none', true);
      record(AREA, `model.safetensors with a ${bad} weight (weight import)`, await classifyCall(() => readFolderWeights(st), { mentions: ['model.safetensors', 'query.weight'] }));
      const onnx = path.join(root, `nan-onnx-${n++}`);
      writeModelFolder(onnx, { config: m.config, weights: w, tokenizerJson: json(onnxDir, 'tokenizer.json'), tokenizerConfig: json(onnxDir, 'tokenizer_config.json'), kind: 'bi-encoder' });
      await encoderCase(`onnx/model.onnx with a ${bad} weight (ONNX encoder)`, onnx, ['non-finite'], 'none');
      record(AREA, `onnx/model.onnx with a ${bad} weight (weight import)`, await classifyCall(() => readFolderWeights(onnx, { source: 'onnx' }), { mentions: ['model.onnx', String(bad)] }));
    }
  }, 60_000);
});

describe('onnx/model.onnx', () => {
  it('garbage, empty, truncated and damaged graphs', async () => {
    const bytes = new Uint8Array(fs.readFileSync(path.join(onnxDir, 'onnx', 'model.onnx')));
    const cases: { name: string; bytes: Uint8Array; ok: 'finite' | 'none' }[] = [
      { name: 'empty file', bytes: new Uint8Array(0), ok: 'none' },
      { name: 'text garbage', bytes: Buffer.from('this is not an onnx model\n'), ok: 'none' },
      { name: 'random bytes', bytes: Uint8Array.from({ length: 4096 }, (_, i) => (i * 2654435761) >>> 24), ok: 'none' },
      ...damaged(bytes, 12, 8, 0).map((c) => ({ name: c.name, bytes: c.bytes, ok: c.name.startsWith('truncated') ? 'none' as const : 'finite' as const })),
    ];
    for (const c of cases) {
      const d = variant(onnxDir, (dd) => write(dd, 'onnx/model.onnx', c.bytes));
      await encoderCase(`onnx/model.onnx ${c.name} (ONNX encoder)`, d, ['model.onnx'], c.ok);
      const w = variant(d, (dd) => fs.rmSync(path.join(dd, 'model.safetensors'), { force: true }));
      record(AREA, `onnx/model.onnx ${c.name} (weight import)`, await classifyCall(() => readFolderWeights(w, { source: 'onnx' }), {
        mentions: ['model.onnx'], correct: c.ok === 'none' ? undefined : () => true,
      }));
    }
  }, 120_000);
  it('a folder with no weights at all, and a model reference that is a file', async () => {
    const d = variant(onnxDir, (dd) => fs.rmSync(path.join(dd, 'onnx'), { recursive: true }));
    await encoderCase('no ONNX graph and no model.safetensors', d, [d, /model\.onnx|model\.safetensors/], 'none');
    await encoderCase('model reference is a file', path.join(onnxDir, 'config.json'), ['config.json'], 'none');
    await encoderCase('model folder does not exist', path.join(root, 'nope'), ['nope'], 'none');
  });
});

// ---------------------------------------------------------------- cross-encoders, and model folders given to the CLI

describe('cross-encoder folders', () => {
  it('damaged files of a cross-encoder are named', async () => {
    const ce = path.join(root, 'cross');
    writeTinyModel(ce, { kind: 'cross-encoder', vocabSize: 200, shape: SHAPE, seed: 4 });
    const pairs: [string, string][] = [['hello', 'world'], ['the fox', 'the quick brown fox']];
    const score = async (d: string) => {
      const m = await loadCrossEncoder(d, { batchSize: 2 });
      try {
        return await m.score(pairs);
      } finally {
        await m.release?.();
      }
    };
    const want = await score(ce);
    const cases: [string, (d: string) => void, (string | RegExp)[], boolean][] = [
      ['intact', () => undefined, [], true],
      ['config.json bad JSON', (d) => write(d, 'config.json', '{'), ['config.json'], false],
      ['config.json max_position_embeddings 1', patch('config.json', (j) => { j.max_position_embeddings = 1; }), ['max_position_embeddings'], false],
      ['tokenizer.json no model', patch('tokenizer.json', (j) => { delete j.model; }), ['tokenizer.json'], false],
      ['tokenizer.json no decoder', patch('tokenizer.json', (j) => { delete j.decoder; }), [], true],
      ['onnx/model.onnx truncated', (d) => { const f = path.join(d, 'onnx', 'model.onnx'); write(d, 'onnx/model.onnx', fs.readFileSync(f).subarray(0, 500)); }, ['model.onnx'], false],
      ['onnx/model.onnx missing', (d) => fs.rmSync(path.join(d, 'onnx'), { recursive: true }), [/onnx|ONNX/], false],
      ['tokenizer_config.json an array', (d) => write(d, 'tokenizer_config.json', '[]'), ['tokenizer_config.json'], false],
    ];
    {
      // a NaN classifier weight: the scores would all be NaN
      const m = writeTinyModel(path.join(root, 'cross-nan-src'), { kind: 'cross-encoder', vocabSize: 200, shape: SHAPE, seed: 4 });
      const w = new Map(m.weights);
      const t = w.get('classifier.weight')!;
      const data = t.data.slice();
      data[0] = NaN;
      w.set('classifier.weight', { ...t, data });
      const nanDir = path.join(root, 'cross-nan');
      writeModelFolder(nanDir, { config: m.config, weights: w, tokenizerJson: json(ce, 'tokenizer.json'), tokenizerConfig: json(ce, 'tokenizer_config.json'), kind: 'cross-encoder' });
      record(AREA, 'cross-encoder with a NaN classifier weight', await classifyCall(() => score(nanDir), { mentions: ['non-finite'] }));
    }
    for (const [name, edit, mentions, ok] of cases) {
      const d = variant(ce, edit);
      let got: Float32Array | undefined;
      record(AREA, `cross-encoder ${name}`, await classifyCall(async () => { got = await score(d); }, {
        mentions, correct: ok ? () => close(got!, want) : undefined,
      }));
    }
  }, 60_000);
});

describe('model folders given to the CLI', () => {
  it('inspect --tokenizer and fit --tokenizer / --model with damaged files name them', async () => {
    const data = path.join(root, 'texts.txt');
    fs.writeFileSync(data, 'hello world\nthe quick brown fox\n');
    const train = path.join(root, 'train.jsonl');
    fs.writeFileSync(train, '{"query":"hello","positive":"hello world","negative":"brown fox","margin":1}\n{"query":"fox","positive":"the quick brown fox","negative":"hello world","margin":1}\n');
    const damaged: [string, (d: string) => void, string][] = [
      ['tokenizer.json bad JSON', (d) => write(d, 'tokenizer.json', '{"model":'), 'tokenizer.json'],
      ['tokenizer.json a folder', (d) => { fs.rmSync(path.join(d, 'tokenizer.json')); fs.mkdirSync(path.join(d, 'tokenizer.json')); }, 'tokenizer.json'],
      ['tokenizer.json without a model', patch('tokenizer.json', (j) => { delete j.model; }), 'tokenizer.json'],
      ['config.json max_position_embeddings 1', patch('config.json', (j) => { j.max_position_embeddings = 1; }), 'max_position_embeddings'],
      ['onnx/model.onnx empty', (d) => write(d, 'onnx/model.onnx', ''), 'model.onnx'],
      ['onnx/model.onnx garbage', (d) => write(d, 'onnx/model.onnx', 'not a model'), 'model.onnx'],
    ];
    const cut = (r: { code: number; err: string }, cmd: string) => {
      const lines = r.err.split('\n');
      const at = lines.findIndex((l) => l.startsWith(`synthtune ${cmd}: `));
      return { ...r, err: at < 0 ? r.err : lines.slice(at).join('\n').split('\n\n')[0] };
    };
    for (const [name, edit, mention] of damaged) {
      const d = variant(onnxDir, edit);
      const beir = path.join(root, 'beir');
      if (!fs.existsSync(beir)) {
        fs.mkdirSync(path.join(beir, 'qrels'), { recursive: true });
        write(beir, 'corpus.jsonl', '{"_id":"d1","text":"hello world"}\n{"_id":"d2","text":"the quick brown fox"}\n');
        write(beir, 'queries.jsonl', '{"_id":"q1","text":"hello"}\n');
        write(beir, 'qrels/test.tsv', 'q1\td1\t1\n');
      }
      record(AREA, `evaluate --model: ${name}`, await classifyRun(cut(await runCli('evaluate', ['--data', beir, '--model', d]), 'evaluate'), { mentions: [mention] }));
      if (!name.startsWith('onnx')) record(AREA, `inspect --tokenizer: ${name}`, await classifyRun(cut(await runCli('inspect', [data, '--tokenizer', d]), 'inspect'), { mentions: [mention] }));
      if (name.startsWith('tokenizer')) {
        record(AREA, `fit --method static --tokenizer: ${name}`, await classifyRun(cut(await runCli('fit', ['--train', train, '--method', 'static', '--tokenizer', d, '--dim', '4', '--epochs', '1', '--out', path.join(root, `fit-${n++}`), '--quiet']), 'fit'), { mentions: [mention] }));
      }
      record(AREA, `fit --method full --model: ${name}`, await classifyRun(cut(await runCli('fit', ['--train', train, '--method', 'full', '--model', d, '--epochs', '1', '--out', path.join(root, `fit-${n++}`), '--quiet']), 'fit'), { mentions: [mention] }));
      record(AREA, `fit --method adapter --model: ${name}`, await classifyRun(cut(await runCli('fit', ['--train', train, '--method', 'adapter', '--model', d, '--epochs', '1', '--out', path.join(root, `fit-${n++}`), '--quiet']), 'fit'), { mentions: [mention] }));
    }
  }, 120_000);
});

describe('Dense modules (2_Dense)', () => {
  it('damaged Dense config and weights are named', async () => {
    const withDense = variant(onnxDir, (d) => writeSentenceTransformersFilesSync(d, {
      hidden: SHAPE.hidden, pooling: 'mean',
      dense: [{ inFeatures: 8, outFeatures: 4, bias: true, activation: 'tanh', weight: Float32Array.from({ length: 32 }, (_, i) => Math.sin(i)), biasData: new Float32Array(4) }],
    }));
    const dense = readModelFolder(withDense).dense[0];
    const dir = dense.path;
    const want4 = await encodeWith(withDense);
    const stFile = path.join(dir, 'model.safetensors');
    const cases: [string, (d: string) => void, (string | RegExp)[]][] = [
      ['config.json missing', (d) => fs.rmSync(path.join(d, dir, 'config.json')), [dir]],
      ['config.json bad JSON', (d) => write(d, path.join(dir, 'config.json'), '{'), [dir, 'config.json']],
      ['in_features a string', patch(path.join(dir, 'config.json'), (j) => { j.in_features = '8'; }), ['in_features']],
      ['out_features 0', patch(path.join(dir, 'config.json'), (j) => { j.out_features = 0; }), ['out_features']],
      ['in_features not the pooled width', patch(path.join(dir, 'config.json'), (j) => { j.in_features = 5; }), [/in_features|5/]],
      ['unknown activation', patch(path.join(dir, 'config.json'), (j) => { j.activation_function = 'torch.nn.modules.activation.Klingon'; }), ['Klingon']],
      ['model.safetensors missing', (d) => fs.rmSync(path.join(d, stFile)), ['model.safetensors']],
      ['only pytorch_model.bin', (d) => { fs.rmSync(path.join(d, stFile)); write(d, path.join(dir, 'pytorch_model.bin'), 'PK'); }, ['pytorch_model.bin']],
      ['model.safetensors truncated', (d) => write(d, stFile, fs.readFileSync(path.join(d, stFile)).subarray(0, 40)), ['model.safetensors']],
      ['linear.weight wrong shape', (d) => write(d, stFile, encodeSafetensors({ 'linear.weight': { dims: [4, 4], data: new Float32Array(16) }, 'linear.bias': { dims: [4], data: new Float32Array(4) } })), ['linear.weight']],
      ['linear.bias missing', (d) => write(d, stFile, encodeSafetensors({ 'linear.weight': { dims: [4, 8], data: new Float32Array(32) } })), ['linear.bias']],
      ['a NaN weight', (d) => write(d, stFile, encodeSafetensors({ 'linear.weight': { dims: [4, 8], data: Float32Array.from({ length: 32 }, (_, i) => (i === 3 ? NaN : 0)) }, 'linear.bias': { dims: [4], data: new Float32Array(4) } })), ['linear.weight', 'NaN']],
    ];
    let got: Float32Array | undefined;
    record(AREA, 'Dense intact (ONNX encoder)', await classifyCall(async () => { got = await encodeWith(withDense); }, { correct: () => close(got!, want4) && got!.length === 4 * TEXTS.length }));
    for (const [name, edit, mentions] of cases) {
      const d = variant(withDense, edit);
      record(AREA, `Dense ${name} (readModelFolder)`, await classifyCall(() => readModelFolder(d), { mentions, correct: () => true }));
      await encoderCase(`Dense ${name} (ONNX encoder)`, d, mentions, 'none');
    }
  }, 60_000);
});

describe('seq2seq (doc2query) folders', () => {
  it('missing, garbage and mis-typed files are named', async () => {
    const t5 = variant(onnxDir, (d) => {
      fs.rmSync(path.join(d, 'onnx'), { recursive: true });
      fs.mkdirSync(path.join(d, 'onnx'));
      write(d, 'config.json', JSON.stringify({ model_type: 't5', eos_token_id: 1, pad_token_id: 0, decoder_start_token_id: 0, num_heads: 2, d_kv: 4 }));
      write(d, 'onnx/encoder_model.onnx', 'not an onnx model');
      write(d, 'onnx/decoder_model_merged.onnx', 'not an onnx model either');
    });
    const cases: [string, (d: string) => void, (string | RegExp)[]][] = [
      ['garbage encoder_model.onnx', () => undefined, ['encoder_model.onnx']],
      ['no decoder', (d) => fs.rmSync(path.join(d, 'onnx/decoder_model_merged.onnx')), ['decoder_model_merged.onnx']],
      ['config.json null', (d) => write(d, 'config.json', 'null'), ['config.json']],
      ['config.json bad JSON', (d) => write(d, 'config.json', '{'), ['config.json']],
      ['config.json num_heads a string', patch('config.json', (j) => { j.num_heads = '2'; }), ['config.json', 'num_heads']],
      ['config.json without eos_token_id', patch('config.json', (j) => { delete j.eos_token_id; }), ['config.json', 'eos_token_id']],
      ['tokenizer.json missing', (d) => fs.rmSync(path.join(d, 'tokenizer.json')), ['tokenizer.json']],
    ];
    for (const [name, edit, mentions] of cases) {
      const d = variant(t5, edit);
      record(AREA, `seq2seq ${name}`, await classifyCall(() => loadQueryGenerator(d), { mentions }));
    }
  });
});

describe('a model too large for this machine (library)', () => {
  it('FullStudent refuses a configuration whose training state does not fit, with the size, before allocating', async () => {
    const config = { hidden: 16384, layers: 300, heads: 64, intermediate: 65536, maxPosition: 512, vocabSize: 250000, typeVocabSize: 2, layerNormEps: 1e-12, pooling: 'mean' as const, normalize: false };
    record(AREA, 'FullStudent of 1 TB', await classifyCall(() => new FullStudent({ config, weights: new Map() }), { mentions: ['GB', 'hidden 16384'] }));
  });
});
