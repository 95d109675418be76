/**
 * Sizes that used to crash instead of failing clearly or working (issue 15): a static student on a
 * tokenizer of 200k tokens (the vocabulary size was a Math.max over every id as call arguments:
 * "Maximum call stack size exceeded"), and a static table too large for any machine ("Invalid typed
 * array length" before).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildWordPieceTokenizer } from '../lib/models/wordpiece';
import { fitRun } from '../lib/training/run';
import { StaticStudent } from '../lib/training/students/static';
import { scratchDirs } from './helpers/models';

const tmp = scratchDirs('synthtune-large-');

describe('large sizes', () => {
  it('a static student on a 200k-token tokenizer trains and exports', async () => {
    const dir = await tmp();
    const texts = ['vaccines reduce the risk of infection', 'protein folding of chains', 'the quick brown fox'];
    const tok = buildWordPieceTokenizer(texts, { vocabSize: 200 });
    const json = tok.tokenizerJson as { model: { vocab: Record<string, number> } };
    let next = Math.max(...Object.values(json.model.vocab)) + 1;
    for (let i = 0; i < 200_000; i++) json.model.vocab[`zzfiller${i}`] = next++;
    fs.writeFileSync(path.join(dir, 'tokenizer.json'), JSON.stringify(json));
    fs.writeFileSync(path.join(dir, 'tokenizer_config.json'), JSON.stringify(tok.tokenizerConfig));
    const train = path.join(dir, 'train.jsonl');
    fs.writeFileSync(train, [0, 1, 2].map((i) => JSON.stringify({ query: texts[i], positive: texts[i], negative: texts[(i + 1) % 3], margin: 1 })).join('\n'));
    const r = await fitRun({ train, method: 'static', tokenizer: dir, dim: 4, epochs: 1, out: path.join(dir, 'out'), log: null });
    const info = JSON.parse(fs.readFileSync(path.join(r.modelDir, 'synthtune.json'), 'utf8'));
    expect(info.vocabSize).toBe(next);
  });

  it('a static table larger than the machine is refused with the size it needs', () => {
    expect(() => new StaticStudent({ vocabSize: 30522, dim: 100_000_000 })).toThrow(/30522-token vocabulary × dim 100000000 table needs \d+\.\d GiB .*choose a smaller dim/);
  });
});
