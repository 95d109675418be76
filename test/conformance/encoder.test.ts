/**
 * Conformance (issue 12), bi-encoders: every bi-encoder folder of cases.json, made by
 * sentence-transformers from a random-weight transformers model (make_models.py), loaded with
 * loadEncoder(folder) gives SentenceTransformer.encode's embeddings, max abs diff ≤ 1e-5 (fp32):
 * pooling mode, Dense, Normalize, max_seq_length and the tokenizer all read from the folder as
 * sentence-transformers reads them (new and legacy config formats). Folders with E5-style prompts
 * also give the query / document embeddings with encode(texts, { promptName }) and
 * encode(texts, { prompt }); encodeQueries / encodeDocuments equal encode_query / encode_document,
 * and a default_prompt_name and include_prompt false (INSTRUCTOR) are honoured. Skipped with a message where python3 or its packages are missing.
 */
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadEncoder, type EncodeCallOptions, type Encoder } from '../../lib/models/encoder';
import { caseRows, conformanceFixtures, flat, report, suiteEnabled, TOL, type Manifest } from './fixtures';

/** The prompt options of encode (issue 12); cast so this file runs before and after the API lands. */
type PromptOptions = EncodeCallOptions & { prompt?: string; promptName?: string };

const enabled = suiteEnabled('encoder');
const rows = caseRows((c) => c.kind === 'bi');

describe.skipIf(!enabled)('conformance: bi-encoders through loadEncoder vs sentence-transformers', () => {
  let dir = '';
  let manifest: Manifest;
  beforeAll(async () => {
    ({ dir, manifest } = await conformanceFixtures());
  }, 15 * 60_000);

  for (const row of rows) {
    it.skipIf(!!row.skip)(`${row.name} (${row.arch}, ${row.tokenizer}, ${row.pooling}${row.dense ? `, dense ${row.dense}` : ''}${row.normalize ? ', normalize' : ''}, ${row.format}, onnx ${row.exporter})`, async () => {
      const c = manifest.cases.find((x) => x.name === row.name);
      expect(c, `${row.name} is missing from the manifest`).toBeDefined();
      const texts = manifest.texts;
      let enc: Encoder | null = null;
      try {
        enc = await loadEncoder(path.join(dir, c!.folder), { threads: 1, batchSize: 3 });
        expect(enc.dim, `${row.name}: embedding size`).toBe(c!.dim);
        const got = await enc.encode(texts);
        const worst = [report(`${row.name} encode`, got, flat(c!.outputs.default!), c!.dim!, TOL.onnx, texts)];
        if (c!.prompts) {
          for (const [name, prompt] of Object.entries(c!.prompts)) {
            const want = flat(c!.outputs[name as 'query' | 'document']!);
            worst.push(report(`${row.name} encode promptName '${name}'`, await enc.encode(texts, { promptName: name } as PromptOptions), want, c!.dim!, TOL.onnx, texts));
            worst.push(report(`${row.name} encode prompt '${prompt}'`, await enc.encode(texts, { prompt } as PromptOptions), want, c!.dim!, TOL.onnx, texts));
          }
        }
        // sentence-transformers' encode_query / encode_document: the folder's query / document prompt
        worst.push(report(`${row.name} encodeQueries`, await enc.encodeQueries(texts), flat(c!.outputs.encode_query!), c!.dim!, TOL.onnx, texts));
        worst.push(report(`${row.name} encodeDocuments`, await enc.encodeDocuments(texts), flat(c!.outputs.encode_document!), c!.dim!, TOL.onnx, texts));
        for (const w of worst) expect(w).toBeLessThanOrEqual(TOL.onnx);
      } finally {
        await enc?.release();
      }
    });
  }
});
