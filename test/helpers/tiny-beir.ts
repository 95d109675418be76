/**
 * A tiny BEIR collection for end-to-end tests: 8 topics, 3 documents each, one query per topic
 * judged relevant to two of its documents (qrels/test.tsv).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

export const TOPICS = [
  'vaccine infection risk immunity', 'protein folding structure chains', 'quick brown fox jumps', 'embedding vectors queries search',
  'clinical trials safety dosage', 'gene expression cells tissue', 'ocean tides moon gravity', 'river delta sediment flood',
];
export const DOCS = TOPICS.flatMap((t, i) => {
  const w = t.split(' ');
  return [`${t} study number ${i}`, `${w[1]} ${w[0]} review and notes`, `notes on ${w[2]} and ${w[3]} in ${w[0]} research`];
});
export const QUERIES = TOPICS.map((t) => `what about ${t.split(' ')[0]} ${t.split(' ')[2]}`);

/** Writes the collection as a BEIR folder (corpus.jsonl, queries.jsonl, qrels/test.tsv) and returns it. */
export function writeTinyBeir(dir: string): string {
  fs.mkdirSync(path.join(dir, 'qrels'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'corpus.jsonl'), DOCS.map((text, i) => JSON.stringify({ _id: `d${i}`, title: '', text })).join('\n'));
  fs.writeFileSync(path.join(dir, 'queries.jsonl'), QUERIES.map((text, i) => JSON.stringify({ _id: `q${i}`, text })).join('\n'));
  fs.writeFileSync(path.join(dir, 'qrels', 'test.tsv'), ['query-id\tcorpus-id\tscore', ...QUERIES.flatMap((_, i) => [`q${i}\td${3 * i}\t1`, `q${i}\td${3 * i + 2}\t1`])].join('\n'));
  return dir;
}
