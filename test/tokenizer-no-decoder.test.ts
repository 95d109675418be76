/**
 * A tokenizer.json without a decoder (valid for Hugging Face tokenizers, which then joins tokens
 * with spaces) loads and encodes as with one; decode joins the tokens with spaces like the Rust
 * library (checked against Python `tokenizers` when it is installed).
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { TextTokenizer } from '../lib/models/tokenizer';
import { buildWordPieceTokenizer } from '../lib/models/wordpiece';
import { pythonMissing } from './helpers/python';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'synthtune-nodecoder-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const TEXTS = ['Tokenization of unusual words, numbers 42 and punctuation!', 'protein folding and gene expression'];

describe('tokenizer.json without a decoder', () => {
  const tok = buildWordPieceTokenizer(TEXTS, { vocabSize: 120 });
  const withDecoder = new TextTokenizer(tok.tokenizerJson, tok.tokenizerConfig as Record<string, unknown>);
  const { decoder: _d, ...rest } = tok.tokenizerJson as Record<string, unknown>;
  const dir = path.join(tmp, 'tok');
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'tokenizer.json'), JSON.stringify(rest));
  fs.writeFileSync(path.join(dir, 'tokenizer_config.json'), JSON.stringify(tok.tokenizerConfig));

  it('loads (was: "Tokenizer must contain a decoder property"), encodes the same ids, decodes with spaces', () => {
    expect(_d).toBeDefined();
    const t = TextTokenizer.fromFolder(dir);
    for (const text of TEXTS) {
      const ids = t.encode(text).ids;
      expect(ids).toEqual(withDecoder.encode(text).ids);
      const pieces = t.tokenize(text);
      expect(t.decode(ids)).toBe(pieces.join(' '));
      expect(t.decode(ids, false).split(' ').length).toBe(ids.length);
    }
  });

  const missing = pythonMissing(['tokenizers']);
  it.skipIf(missing !== null)(`decode equals Python tokenizers' ${missing ? `(skipped: ${missing})` : ''}`, () => {
    const t = TextTokenizer.fromFolder(dir);
    const script = 'import json,sys\nfrom tokenizers import Tokenizer\nt=Tokenizer.from_file(sys.argv[1])\nfor s in json.loads(sys.argv[2]):\n  e=t.encode(s)\n  print(json.dumps([e.ids, t.decode(e.ids), t.decode(e.ids, skip_special_tokens=False)]))';
    const r = spawnSync('python3', ['-c', script, path.join(dir, 'tokenizer.json'), JSON.stringify(TEXTS)], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    r.stdout.trim().split('\n').forEach((line, i) => {
      const [ids, dec, decAll] = JSON.parse(line) as [number[], string, string];
      expect(t.encode(TEXTS[i]).ids).toEqual(ids);
      expect(t.decode(ids)).toBe(dec);
      expect(t.decode(ids, false)).toBe(decAll);
    });
  });
});
