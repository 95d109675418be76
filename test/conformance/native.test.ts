/**
 * Conformance (issue 12), the native forward after import: every bi-encoder folder of cases.json
 * marked `native` imported into the native encoder for `method: 'full'` (importFullStudent: weights
 * from model.safetensors, pooling / Dense / Normalize / max length from the folder; with Dense
 * modules, the student under its DenseHeadStudent, as fitRun trains it) gives
 * sentence-transformers' embeddings (without prompts) on the folder's own tokens, max abs diff
 * ≤ 1e-4. Folders with an ONNX file go through the default import (with its acceptance check
 * against onnxruntime), and again with the weights read from the ONNX initializers (source 'onnx':
 * the TorchScript and the dynamo exporter's graphs); folders without one are imported with
 * check: false (there is nothing to check against; the comparison with PyTorch is the check). Skipped with a message where python3,
 * its packages or the native addon are missing.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { importFullStudent, type ImportedFull } from '../../lib/training/import-weights';
import { DenseHeadStudent } from '../../lib/training/students/dense-head';
import { nativeBertAvailable } from '../../lib/training/students/full';
import { caseRows, conformanceFixtures, flat, report, suiteEnabled, TOL, type Manifest } from './fixtures';

const enabled = suiteEnabled('native');
const avail = nativeBertAvailable();
if (enabled && !avail.ok) console.log(`conformance (native) skipped: ${avail.reason}`);
const rows = caseRows((c) => c.kind === 'bi' && !!c.native);

describe.skipIf(!enabled || !avail.ok)('conformance: native forward after importFullStudent vs sentence-transformers', () => {
  let dir = '';
  let manifest: Manifest;
  beforeAll(async () => {
    ({ dir, manifest } = await conformanceFixtures());
  }, 15 * 60_000);

  for (const row of rows) {
    it.skipIf(!!row.skip)(`${row.name} (${row.arch}, ${row.pooling}${row.dense ? `, dense ${row.dense}` : ''}${row.normalize ? ', normalize' : ''}, ${row.format}, ${row.exporter === 'none' ? 'safetensors only' : `onnx ${row.exporter}`})`, async () => {
      const c = manifest.cases.find((x) => x.name === row.name);
      expect(c, `${row.name} is missing from the manifest`).toBeDefined();
      const folder = path.join(dir, c!.folder);
      const hasOnnx = fs.existsSync(path.join(folder, 'onnx', 'model.onnx'));
      const texts = manifest.texts;
      const imported: ImportedFull = await importFullStudent(folder, { threads: 2, device: 'cpu', sampleTexts: texts, ...(hasOnnx ? {} : { check: false }) });
      const { tokenizer } = imported;
      // with Dense modules: the transformer student under its Dense head, as fitRun trains it
      const student = imported.head ? new DenseHeadStudent(imported.student, imported.head) : imported.student;
      if (imported.check) console.log(`${row.name}: import check vs onnxruntime ${imported.check.maxAbsDiff.toExponential(2)}`);
      expect(student.dim, `${row.name}: native embedding size (sentence-transformers: ${c!.modules?.join('+')})`).toBe(c!.dim);
      const got = await student.encode(texts.map((t) => tokenizer.encode(t).ids), 'document');
      const d = report(`${row.name} native`, got, flat(c!.outputs.noprompt!), c!.dim!, TOL.native, texts);
      expect(d).toBeLessThanOrEqual(TOL.native);
    });

    // The same weights read from the ONNX file's initializers instead (torch.onnx names them
    // anonymously; the TorchScript and dynamo exporters lay the graph out differently).
    if (row.exporter !== 'none') {
      it.skipIf(!!row.skip)(`${row.name} from onnx/model.onnx (${row.exporter} exporter)`, async () => {
        const c = manifest.cases.find((x) => x.name === row.name);
        expect(c, `${row.name} is missing from the manifest`).toBeDefined();
        const texts = manifest.texts;
        const imported = await importFullStudent(path.join(dir, c!.folder), { source: 'onnx', threads: 2, device: 'cpu', sampleTexts: texts });
        expect(imported.weights.source).toBe('onnx');
        const student = imported.head ? new DenseHeadStudent(imported.student, imported.head) : imported.student;
        const got = await student.encode(texts.map((t) => imported.tokenizer.encode(t).ids), 'document');
        const d = report(`${row.name} native (weights from ${row.exporter} ONNX)`, got, flat(c!.outputs.noprompt!), c!.dim!, TOL.native, texts);
        expect(d).toBeLessThanOrEqual(TOL.native);
      });
    }
  }
});
