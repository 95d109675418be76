/**
 * Conformance (issue 12), the round trip: a model folder made by sentence-transformers
 * (cases.json rows marked `roundtrip`) is trained by synthtune's fitRun with each method — full
 * (the native encoder, then exported), adapter (on the folder as frozen encoder, sides 'both', and
 * query-only), static (on the folder's tokenizer) — and the exported <out>/model is loaded back in
 * Python (roundtrip.py: SentenceTransformer(folder), AutoModel.from_pretrained(folder)). The export
 * must give, through sentence-transformers, the embeddings synthtune's loadEncoder gives on it,
 * max abs diff ≤ 1e-5: encode (or both refuse it, for an asymmetric model), encode_query vs
 * encodeQueries, encode_document vs encodeDocuments, and the same prompts; for `full`, also those of the trained in-process
 * student (≤ 1e-4: native vs PyTorch arithmetic), and AutoModel's last_hidden_state pooled as the
 * source declares (no Dense) equals loadEncoder's un-normalised embeddings (≤ 1e-5).
 * Skipped with a message where python3 or its packages are missing. The test files are
 * roundtrip.test.ts (full, static) and roundtrip-adapter.test.ts (adapter, query-only adapter).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadEncoder, type Encoder } from '../../lib/models/encoder';
import type { Callback } from '../../lib/training/callbacks';
import { fitRun } from '../../lib/training/run';
import type { FullStudent } from '../../lib/training/students/full';
import { scratchDirs } from '../helpers/models';
import { caseRows, conformanceFixtures, flat, report, roundtrip, stopRoundtripServer, suiteEnabled, TOL, type Manifest } from './fixtures';

export type RoundtripMethod = 'full' | 'adapter' | 'adapter-query' | 'static';

/** A few Margin-MSE rows (the synthesis format) over the fixture texts. */
function trainRows(texts: string[]): string {
  const docs = ['Ocean tides are caused by the gravity of the moon.', 'Vaccines reduce the risk of infection.', 'Protein folding determines structure.', 'Search engines rank documents by relevance.'];
  const lines = [];
  for (let i = 0; i < 8; i++) {
    lines.push(JSON.stringify({ query: texts[i % texts.length].slice(0, 80), positive: docs[i % 4], negative: docs[(i + 1) % 4], margin: 0.5 + 0.1 * i }));
  }
  return `${lines.join('\n')}\n`;
}

/**
 * Registers the round-trip tests of `methods` for every row marked roundtrip (called at the top
 * level of a test file; the methods are split over two files so that vitest runs them side by side).
 */
export function roundtripSuite(file: string, methods: RoundtripMethod[]): void {
  const enabled = suiteEnabled(file);
  const rows = caseRows((c) => c.kind === 'bi' && !!c.roundtrip);
  const tmp = scratchDirs('synthtune-conformance-rt-');
  const want = (m: RoundtripMethod) => methods.includes(m);

  describe.skipIf(!enabled)(`conformance: synthtune export (${methods.join(', ')}) → sentence-transformers load → same embeddings`, () => {
    let dir = '';
    let manifest: Manifest;
    let train = '';
    beforeAll(async () => {
      ({ dir, manifest } = await conformanceFixtures());
      const d = await tmp();
      train = path.join(d, 'train.jsonl');
      fs.writeFileSync(train, trainRows(manifest.texts));
    }, 15 * 60_000);
    afterAll(() => stopRoundtripServer());

    /**
     * Python's view of an export vs synthtune's loadEncoder on it. `source`: the folder the export was
     * trained from, whose prompts it must keep (null: whatever prompts the export declares are only
     * checked to mean the same on both sides).
     */
    async function compareExport(label: string, modelDir: string, source: Manifest['cases'][number] | null): Promise<{ py: Float32Array; dim: number }> {
      const texts = manifest.texts;
      const py = await roundtrip(modelDir, texts);
      const modules = py.modules.join('+');
      let enc: Encoder | null = null;
      try {
        enc = await loadEncoder(modelDir, { threads: 1, batchSize: 3 });
        const dim = enc.dim;
        const worst: number[] = [];
        worst.push(report(`${label} encode_query vs encodeQueries (modules ${modules})`, await enc.encodeQueries(texts), flat(py.encode_query), dim, TOL.roundtrip, texts));
        worst.push(report(`${label} encode_document vs encodeDocuments`, await enc.encodeDocuments(texts), flat(py.encode_document), dim, TOL.roundtrip, texts));
        // plain encode: the same embeddings; on an asymmetric folder (a Router: a query-only adapter)
        // synthtune refuses it and says which side to call (sentence-transformers falls back to the
        // Router's default route, the documents: a silent choice synthtune does not make)
        if (enc.asymmetric) {
          expect(py.modules, `${label}: an asymmetric export is a Router for sentence-transformers too`).toContain('Router');
          await expect(enc.encode(texts)).rejects.toThrow(/call encodeQueries\(texts\) or encodeDocuments\(texts\)/);
        } else if (py.sentence_transformers) {
          worst.push(report(`${label} sentence-transformers vs loadEncoder (modules ${modules})`, await enc.encode(texts), flat(py.sentence_transformers), dim, TOL.roundtrip, texts));
        } else {
          console.log(`${label}: sentence-transformers refuses plain encode (${py.encode_error}); synthtune must too`);
          await expect(enc.encode(texts), `${label}: encode on a folder whose plain encode sentence-transformers refuses`).rejects.toThrow();
        }
        // the source's prompts survive the export, and mean the same on both sides
        if (source) {
          const wantPrompts = Object.fromEntries(Object.entries(source.prompts ?? {}).filter(([, v]) => v));
          expect(py.prompts, `${label}: prompts of the export`).toEqual(wantPrompts);
        }
        // roundtrip.py encodes with each prompt through plain encode: on a Router, its default route (documents)
        const side = enc.asymmetric ? { side: 'document' as const } : {};
        for (const name of Object.keys(py.prompt_embeddings)) {
          worst.push(report(`${label} prompt '${name}'`, await enc.encode(texts, { promptName: name, ...side }), flat(py.prompt_embeddings[name]), dim, TOL.roundtrip, texts));
        }
        // AutoModel: the transformer alone, pooled as declared, before Dense / Normalize
        const pooling = enc.pooling;
        const bare = py.modules[0] === 'Transformer' && !py.modules.includes('Dense');
        if ((pooling === 'mean' || pooling === 'cls') && bare && py.sentence_transformers) {
          expect(py.automodel.error, `${label}: AutoModel.from_pretrained failed`).toBeUndefined();
          const raw = await enc.encode(texts, { normalize: false, ...side });
          worst.push(report(`${label} AutoModel ${pooling} vs loadEncoder (normalize false)`, raw, flat(py.automodel[pooling]!), dim, TOL.roundtrip, texts));
        }
        for (const w of worst) expect(w).toBeLessThanOrEqual(TOL.roundtrip);
        return { py: flat(py.encode_document), dim };
      } finally {
        await enc?.release();
      }
    }

    for (const row of rows) {
      const describeCase = `${row.name} (${row.arch}, ${row.tokenizer}, ${row.pooling}${row.normalize ? ', normalize' : ''}${row.prompts ? ', prompts' : ''})`;

      if (want('full')) it.skipIf(!!row.skip)(`full: ${describeCase}`, async () => {
        const c = manifest.cases.find((x) => x.name === row.name)!;
        expect(c, `${row.name} is missing from the manifest`).toBeDefined();
        let trained: FullStudent | null = null;
        const grab: Callback = { name: 'grab', onTrainEnd: (ctx) => { trained = ctx.student as FullStudent; } };
        const r = await fitRun({
          train, method: 'full', model: path.join(dir, c.folder), epochs: 1, batchSize: 4, learningRate: 1e-3, seed: 1,
          out: await tmp(), log: null, threads: 2, device: 'cpu', callbacks: [grab],
        });
        const { py, dim } = await compareExport(`${row.name} full`, r.modelDir, c);
        // the export is the trained model: PyTorch on it reproduces the in-process student (no prompts)
        const student = trained as unknown as FullStudent;
        const enc = await loadEncoder(r.modelDir, { threads: 1 });
        const ids = manifest.texts.map((t) => enc.tokenizer.encode(t).ids);
        await enc.release();
        const native = await student.encode(ids, 'document');
        const noPromptPy = c.prompts && Object.values(c.prompts).some((v) => v) ? null : py;
        if (noPromptPy) {
          const d = report(`${row.name} full: sentence-transformers (encode_document) on the export vs the in-process student`, native, noPromptPy, dim, TOL.native, manifest.texts);
          expect(d).toBeLessThanOrEqual(TOL.native);
        }
      });

      if (want('adapter')) it.skipIf(!!row.skip)(`adapter: ${describeCase}`, async () => {
        const c = manifest.cases.find((x) => x.name === row.name)!;
        const r = await fitRun({ train, method: 'adapter', model: path.join(dir, c.folder), sides: 'both', epochs: 1, batchSize: 4, seed: 1, out: await tmp(), log: null });
        await compareExport(`${row.name} adapter`, r.modelDir, c);
      });

      if (want('adapter-query')) it.skipIf(!!row.skip)(`adapter, query-only: ${describeCase}`, async () => {
        const c = manifest.cases.find((x) => x.name === row.name)!;
        const r = await fitRun({ train, method: 'adapter', model: path.join(dir, c.folder), sides: 'query', epochs: 1, batchSize: 4, seed: 1, out: await tmp(), log: null });
        await compareExport(`${row.name} adapter (query-only)`, r.modelDir, c);
      });

      if (want('static')) it.skipIf(!!row.skip)(`static: ${describeCase}`, async () => {
        const c = manifest.cases.find((x) => x.name === row.name)!;
        if (c.tokenizer === 'bpe') {
          // documented limit (README): StaticEmbedding tokenises without special tokens, and a byte-level
          // BPE tokenizer's <s> … </s> cannot be mirrored; the export says so and synthtune reads it
          const r = await fitRun({ train, method: 'static', model: path.join(dir, c.folder), dim: 16, epochs: 1, batchSize: 4, seed: 1, out: await tmp(), log: null });
          const info = JSON.parse(fs.readFileSync(path.join(r.modelDir, 'synthtune.json'), 'utf8'));
          expect(info.sentenceTransformers).toBe(false);
          expect(info.reason).toMatch(/\S/);
          const enc = await loadEncoder(r.modelDir, { threads: 1 });
          try {
            expect((await enc.encode(manifest.texts)).length).toBe(manifest.texts.length * 16);
          } finally {
            await enc.release();
          }
          console.log(`${row.name} static: not loadable by sentence-transformers, as documented (${info.reason})`);
          return;
        }
        const r = await fitRun({ train, method: 'static', model: path.join(dir, c.folder), dim: 16, epochs: 1, batchSize: 4, seed: 1, out: await tmp(), log: null });
        await compareExport(`${row.name} static`, r.modelDir, null);
      });
    }
  });
}
