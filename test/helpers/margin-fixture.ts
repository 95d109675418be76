/**
 * A small Margin-MSE training set for the resume-after-SIGKILL tests: `n` (query, positive,
 * negative, margin) rows over `queries` distinct queries, written as <dir>/train.jsonl, and a
 * WordPiece tokenizer of `vocabSize` learnt from its texts in <dir>/tok.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeWordPieceTokenizer } from '../../lib/models/wordpiece';

export function writeMarginFixture(dir: string, n: number, queries: number, vocabSize: number): { train: string; tok: string } {
  const words = ['alpha', 'beta', 'gamma', 'delta', 'eps', 'zeta', 'eta', 'theta', 'iota', 'kappa'];
  const rows = Array.from({ length: n }, (_, i) => {
    const q = `query ${i % queries} ${words[i % 10]} ${words[(i * 3) % 10]}`;
    return { query: q, positive: `${q} text ${words[(i * 7) % 10]}`, negative: `other ${words[(i * 5) % 10]} ${i % 9}`, margin: 1 + (i % 7) };
  });
  const train = path.join(dir, 'train.jsonl');
  fs.writeFileSync(train, rows.map((r) => JSON.stringify(r)).join('\n'));
  const tok = path.join(dir, 'tok');
  writeWordPieceTokenizer(tok, rows.flatMap((r) => [r.query, r.positive, r.negative]), { vocabSize });
  return { train, tok };
}
