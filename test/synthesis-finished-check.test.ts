/** A finished synthesis run is reused only if its train.jsonl is the one it wrote (issue 15: it used to report its old count). */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { RunError } from '../lib/util/errors';
import { synthesize } from '../lib/synthesis';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'synthtune-finished-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const corpus = Array.from({ length: 12 }, (_, i) => ({ id: `d${i}`, text: `document ${i} about topic ${i % 4} and words w${i}` }));
const queries = ['topic 1 words', 'document 3', 'topic 2', 'about w5'];
const opts = (out: string) => ({ queries, corpus, miner: 'bm25', scorer: 'bm25', numRelations: 4, out, progress: 'none' as const });

describe('reopening a finished synthesis', () => {
  it('intact: returned as it is; truncated or edited train.jsonl: RunError with the way out; deleted: rewritten from the checkpoints', async () => {
    const out = path.join(tmp, 'run');
    const first = await synthesize(opts(out));
    const st = await first.wait();
    expect(JSON.parse(fs.readFileSync(path.join(out, 'status.json'), 'utf8')).trainSha256).toMatch(/^[0-9a-f]{64}$/);
    const again = await synthesize(opts(out));
    expect((await again.wait()).examples).toBe(st.examples);
    const file = path.join(out, 'train.jsonl');
    const text = fs.readFileSync(file, 'utf8');
    fs.writeFileSync(file, text.split('\n').slice(0, 3).join('\n') + '\n'); // truncated
    let err = await synthesize(opts(out)).catch((e) => e);
    expect(err).toBeInstanceOf(RunError);
    expect(err.message).toMatch(/train\.jsonl: holds 3 line\(s\) but the finished run wrote 12 example\(s\).*delete it to have it written again/);
    fs.writeFileSync(file, text.replace('"margin":', '"margin": ')); // same lines, other bytes
    err = await synthesize(opts(out)).catch((e) => e);
    expect(err.message).toMatch(/SHA-256 differs/);
    // deleted: the run resumes from its checkpoints and writes the same file again
    fs.rmSync(file);
    const resumed = await synthesize(opts(out));
    await resumed.wait();
    expect(fs.readFileSync(file, 'utf8')).toBe(text);
  });
});
