/**
 * Model resolution without the network: local folders, our cache, the Hugging Face cache layout,
 * the offline error text, and the hub path through an injected downloader.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveModel, synthesisModelEn, synthesisModelMulti, type HubDownloader } from '../lib/models/resolve';
import { writeTinyModel } from '../lib/models/tiny';
import { tmpDir } from './helpers/models';

const root = tmpDir('synthtune-resolve-');
let model: string;
const SHA = 'a'.repeat(40);
const noNetwork: HubDownloader = async () => {
  throw new Error('the test tried to reach the hub');
};

beforeAll(() => {
  model = writeTinyModel(path.join(root, 'tiny'), { shape: { layers: 1, hidden: 16, heads: 2, intermediate: 16 } }).dir;
});
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

/** A cache dir pair under a fresh folder, so tests never read the user's caches. */
function caches(name: string) {
  return { cacheDir: path.join(root, name, 'own'), hfCacheDir: path.join(root, name, 'hf'), download: noNetwork };
}

describe('resolveModel', () => {
  it('a local folder', async () => {
    const r = await resolveModel(model, caches('a'));
    expect(r.source).toBe('local');
    expect(r.onnxPath).toBe(path.join(model, 'onnx', 'model.onnx'));
  });

  it('falls back to onnx/model_quantized.onnx, or prefers it when asked', async () => {
    const q = path.join(root, 'quant');
    fs.cpSync(model, q, { recursive: true });
    fs.renameSync(path.join(q, 'onnx', 'model.onnx'), path.join(q, 'onnx', 'model_quantized.onnx'));
    expect((await resolveModel(q, caches('b'))).onnxPath).toBe(path.join(q, 'onnx', 'model_quantized.onnx'));
    fs.copyFileSync(path.join(model, 'onnx', 'model.onnx'), path.join(q, 'onnx', 'model.onnx'));
    expect((await resolveModel(q, caches('b'))).onnxPath).toBe(path.join(q, 'onnx', 'model.onnx'));
    expect((await resolveModel(q, { ...caches('b'), quantized: true })).onnxPath).toBe(path.join(q, 'onnx', 'model_quantized.onnx'));
  });

  it('a hub id found in our cache folder', async () => {
    const c = caches('c');
    fs.cpSync(model, path.join(c.cacheDir, 'org', 'tiny-model'), { recursive: true });
    const r = await resolveModel('org/tiny-model', c);
    expect(r.source).toBe('cache');
    expect(r.id).toBe('org/tiny-model');
  });

  it('a hub id found in the Hugging Face cache (refs/main → snapshots/<sha>)', async () => {
    const c = caches('d');
    const repoDir = path.join(c.hfCacheDir, 'models--org--tiny-model');
    fs.cpSync(model, path.join(repoDir, 'snapshots', SHA), { recursive: true });
    fs.mkdirSync(path.join(repoDir, 'refs'), { recursive: true });
    fs.writeFileSync(path.join(repoDir, 'refs', 'main'), SHA);
    const r = await resolveModel('org/tiny-model', c);
    expect(r.source).toBe('hf-cache');
    expect(r.dir).toBe(path.join(repoDir, 'snapshots', SHA));
    // HF_HUB_CACHE is honoured when no hfCacheDir is given
    const saved = process.env.HF_HUB_CACHE;
    process.env.HF_HUB_CACHE = c.hfCacheDir;
    try {
      expect((await resolveModel('org/tiny-model', { cacheDir: c.cacheDir, download: noNetwork })).source).toBe('hf-cache');
    } finally {
      if (saved === undefined) delete process.env.HF_HUB_CACHE;
      else process.env.HF_HUB_CACHE = saved;
    }
  });

  it('offline with nothing cached: the error lists the files and the folder to put them in', async () => {
    const c = caches('e');
    const err = await resolveModel('cross-encoder/ms-marco-MiniLM-L-6-v2', { ...c, offline: true }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    const msg = (err as Error).message;
    expect(msg).toMatch(/not available locally and offline mode is on/);
    expect(msg).toContain(path.join(c.cacheDir, 'cross-encoder', 'ms-marco-MiniLM-L-6-v2'));
    for (const f of ['tokenizer.json', 'config.json', 'onnx/model.onnx', 'onnx/model_quantized.onnx', 'tokenizer_config.json']) expect(msg).toContain(f);
    expect(msg).toContain(c.hfCacheDir);
    // the env switch works too
    process.env.SYNTHTUNE_OFFLINE = '1';
    try {
      await expect(resolveModel('org/other', c)).rejects.toThrow(/offline mode is on/);
    } finally {
      delete process.env.SYNTHTUNE_OFFLINE;
    }
  });

  it('hub unreachable: same guidance, with the cause', async () => {
    const unreachable: HubDownloader = async () => {
      throw new TypeError('fetch failed', { cause: new Error('getaddrinfo ENOTFOUND huggingface.co') });
    };
    await expect(resolveModel('org/missing', { ...caches('f'), download: unreachable })).rejects.toThrow(
      /cannot be reached \(fetch failed\)[\s\S]*Put these files from https:\/\/huggingface.co\/org\/missing into/,
    );
    const notFound: HubDownloader = async () => {
      throw new Error('hub repo org/missing@main has no ONNX export');
    };
    await expect(resolveModel('org/missing', { ...caches('f'), download: notFound })).rejects.toThrow(/could not download model 'org\/missing'.*no ONNX export/);
  });

  it('hub reachable: the downloader fills the HF cache and the snapshot is used', async () => {
    const c = caches('g');
    const calls: string[] = [];
    const fake: HubDownloader = async ({ repo, revision, hfCacheDir, required, onnxCandidates }) => {
      calls.push(`${repo}@${revision}:${required.join(',')}|${onnxCandidates[0]}`);
      const snap = path.join(hfCacheDir, `models--${repo.replace('/', '--')}`, 'snapshots', SHA);
      fs.cpSync(model, snap, { recursive: true });
      return snap;
    };
    const r = await resolveModel('org/new-model@v1', { ...c, download: fake });
    expect(r.source).toBe('hub');
    expect(calls).toEqual(['org/new-model@v1:tokenizer.json,config.json|onnx/model.onnx']);
  });

  it('bad references', async () => {
    await expect(resolveModel('', caches('h'))).rejects.toThrow(TypeError);
    await expect(resolveModel(42 as unknown as string, caches('h'))).rejects.toThrow(TypeError);
    await expect(resolveModel('./does/not/exist', caches('h'))).rejects.toThrow(/model folder not found/);
    await expect(resolveModel(path.join(model, 'config.json'), caches('h'))).rejects.toThrow(/is a file/);
  });

  it('presets', () => {
    expect(synthesisModelEn).toEqual({ relationMiner: 'sentence-transformers/msmarco-distilbert-base-v3', crossEncoder: 'cross-encoder/ms-marco-MiniLM-L-6-v2' });
    expect(synthesisModelMulti).toEqual({
      relationMiner: 'sentence-transformers/distiluse-base-multilingual-cased-v1',
      crossEncoder: 'cross-encoder/mmarco-mMiniLMv2-L12-H384-v1',
    });
  });
});
