/**
 * Conformance (issue 12), cross-encoders: every cross-encoder folder of cases.json (a random-weight
 * *ForSequenceClassification with one label, saved by sentence-transformers' CrossEncoder, or as
 * older versions saved it) loaded with loadCrossEncoder(folder) gives the raw logits of
 * CrossEncoder.predict (identity activation; equal to AutoModelForSequenceClassification's) for
 * the same pairs, max abs diff ≤ 1e-5 (fp32), with the folder's max length and pair truncation.
 * Skipped with a message where python3 or its packages are missing.
 */
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadCrossEncoder, type CrossEncoder } from '../../lib/models/cross-encoder';
import { caseRows, conformanceFixtures, report, suiteEnabled, TOL, type Manifest } from './fixtures';

const enabled = suiteEnabled('cross-encoder');
const rows = caseRows((c) => c.kind === 'cross');

describe.skipIf(!enabled)('conformance: cross-encoders through loadCrossEncoder vs sentence-transformers', () => {
  let dir = '';
  let manifest: Manifest;
  beforeAll(async () => {
    ({ dir, manifest } = await conformanceFixtures());
  }, 15 * 60_000);

  for (const row of rows) {
    it.skipIf(!!row.skip)(`${row.name} (${row.arch}, ${row.tokenizer}, ${row.format}, onnx ${row.exporter})`, async () => {
      const c = manifest.cases.find((x) => x.name === row.name);
      expect(c, `${row.name} is missing from the manifest`).toBeDefined();
      let ce: CrossEncoder | null = null;
      if (row.exporter === 'none') {
        // cross-encoders run on onnxruntime only (README): a folder without a graph is a clear error
        await expect(loadCrossEncoder(path.join(dir, c!.folder))).rejects.toThrow(/no ONNX graph.*cross-encoders run on onnxruntime/s);
        return;
      }
      try {
        ce = await loadCrossEncoder(path.join(dir, c!.folder), { threads: 1, batchSize: 4 });
        expect(ce.numLabels, `${row.name}: labels`).toBe(c!.numLabels);
        const got = await ce.score(manifest.pairs);
        const want = Float32Array.from(c!.outputs.logits!);
        const d = report(`${row.name} score`, got, want, 1, TOL.onnx, manifest.pairs.map((p) => `${p[0]} | ${p[1]}`));
        expect(d).toBeLessThanOrEqual(TOL.onnx);
      } finally {
        await ce?.release();
      }
    });
  }
});
