/**
 * Robustness suite, area 'disks': what the file system refuses, through the CLI. A read-only and a
 * nearly full file system are small tmpfs mounts (skipped with a message where mounting is not
 * allowed: not root, or no CAP_SYS_ADMIN in a container); a file where a folder belongs and the
 * reverse, missing inputs; a permission-denied input read by an unprivileged child process
 * (skipped when not root: root reads any file). Each must end in one line naming the path and
 * what was refused (exit 2), and must not leave a run folder that claims to be finished or a
 * temporary file behind.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli';
import { writeTinyBeir } from '../helpers/tiny-beir';
import { writeWordPieceTokenizer } from '../../lib/models/wordpiece';
import { DOCS, QUERIES } from '../helpers/tiny-beir';
import { classifyRun, record } from './outcome';

const AREA = 'disks';
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'synthtune-disks-'));
const beir = writeTinyBeir(path.join(root, 'beir'));
const tokenizer = path.join(root, 'tok');
writeWordPieceTokenizer(tokenizer, [...DOCS, ...QUERIES], { vocabSize: 200 });
const synthArgs = (out: string) => ['--queries', beir, '--corpus', beir, '--miner', 'bm25', '--scorer', 'bm25', '--out', out];
const fitArgs = (train: string, out: string) => ['--train', train, '--method', 'static', '--tokenizer', tokenizer, '--dim', '8', '--epochs', '1', '--out', out, '--quiet'];

/** Mounts a tmpfs of `size` at a new folder (read-only when asked); null when mounting is not allowed. */
function mountTmpfs(name: string, size: string, readOnly = false): string | null {
  const dir = path.join(root, name);
  fs.mkdirSync(dir, { recursive: true });
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size}${readOnly ? ',ro' : ''}`, 'tmpfs', dir], { encoding: 'utf8' });
  return r.status === 0 ? dir : null;
}
const mounts: string[] = [];

/** Files under dir whose names mark them temporary (atomic writes, lib/data/atomic.ts). */
function tempFiles(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return (fs.readdirSync(dir, { recursive: true }) as string[]).filter((f) => /\.tmp$/.test(f));
}

function finished(dir: string): boolean {
  const f = path.join(dir, 'status.json');
  if (!fs.existsSync(f)) return false;
  try {
    return /FINISHED/.test(JSON.parse(fs.readFileSync(f, 'utf8')).state ?? '');
  } catch {
    return false;
  }
}

let train = '';
beforeAll(async () => {
  const run = path.join(root, 'run');
  const r = await runCli('synthesize', synthArgs(run));
  expect(r.code, r.err).toBe(0);
  train = run;
}, 60_000);

afterAll(() => {
  for (const m of mounts) spawnSync('umount', [m]);
  fs.rmSync(root, { recursive: true, force: true });
});

const ro = mountTmpfs('ro', '1m', true);
const full = mountTmpfs('full', '4k');
for (const m of [ro, full]) if (m) mounts.push(m);
if (!ro || !full) console.log('robustness/disks: read-only and full-disk cases skipped: cannot mount a tmpfs here (needs root / CAP_SYS_ADMIN)');

describe.skipIf(!ro)('read-only file system', () => {
  it('synthesize --out on it: one line naming the folder, read-only', async () => {
    const out = path.join(ro!, 'run');
    const r = await runCli('synthesize', synthArgs(out));
    record(AREA, 'synthesize --out on a read-only file system', await classifyRun(r, { mentions: [ro!, /read-only|EROFS/] }));
  });
  it('fit --out on it: one line naming the folder, read-only', async () => {
    const out = path.join(ro!, 'fit');
    const r = await runCli('fit', fitArgs(train, out));
    record(AREA, 'fit --out on a read-only file system', await classifyRun(r, { mentions: [ro!, /read-only|EROFS/] }));
  });
});

describe.skipIf(!full)('full file system', () => {
  it('synthesize into a 4 KiB tmpfs: no space, named; not finished; no temporary files', async () => {
    const out = path.join(full!, 'run');
    const r = await runCli('synthesize', synthArgs(out));
    record(AREA, 'synthesize --out on a full file system', await classifyRun(r, { mentions: [full!, /no space|ENOSPC/] }));
    expect(finished(out)).toBe(false);
    expect(tempFiles(out)).toEqual([]);
  });
  it('fit into a full tmpfs: no space, named; not finished; no temporary files', async () => {
    // fill what the synthesis above left free, so fit's first larger write fails
    for (const f of fs.readdirSync(full!)) fs.rmSync(path.join(full!, f), { recursive: true, force: true });
    const out = path.join(full!, 'fit');
    const r = await runCli('fit', fitArgs(train, out));
    record(AREA, 'fit --out on a full file system', await classifyRun(r, { mentions: [full!, /no space|ENOSPC/] }));
    expect(finished(out)).toBe(false);
    expect(tempFiles(out)).toEqual([]);
  });
});

describe('paths of the wrong kind, missing inputs', () => {
  it('a file where the --out folder belongs (synthesize, fit)', async () => {
    const file = path.join(root, 'a-file');
    fs.writeFileSync(file, 'x');
    record(AREA, 'synthesize --out is a file', await classifyRun(await runCli('synthesize', synthArgs(file)), { mentions: [file] }));
    record(AREA, 'fit --out is a file', await classifyRun(await runCli('fit', fitArgs(train, file)), { mentions: [file] }));
    const under = path.join(file, 'sub');
    record(AREA, 'synthesize --out below a file', await classifyRun(await runCli('synthesize', synthArgs(under)), { mentions: [file] }));
  });
  it('a folder where a file belongs (--queries, --corpus, --train train.jsonl)', async () => {
    const folder = path.join(root, 'a-folder');
    fs.mkdirSync(folder, { recursive: true });
    const corpus = path.join(beir, 'corpus.jsonl');
    record(AREA, 'synthesize --queries is a folder', await classifyRun(await runCli('synthesize', ['--queries', folder, '--corpus', corpus, '--miner', 'bm25', '--scorer', 'bm25', '--out', path.join(root, 'r1')]), { mentions: [folder] }));
    record(AREA, 'synthesize --corpus is a folder', await classifyRun(await runCli('synthesize', ['--queries', path.join(beir, 'queries.jsonl'), '--corpus', folder, '--miner', 'bm25', '--scorer', 'bm25', '--out', path.join(root, 'r2')]), { mentions: [folder] }));
    record(AREA, 'fit --train is an empty folder', await classifyRun(await runCli('fit', fitArgs(folder, path.join(root, 'f2'))), { mentions: [folder] }));
  });
  it('missing inputs are named', async () => {
    const missing = path.join(root, 'no-such-file.jsonl');
    record(AREA, 'synthesize --corpus missing', await classifyRun(await runCli('synthesize', ['--queries', path.join(beir, 'queries.jsonl'), '--corpus', missing, '--miner', 'bm25', '--scorer', 'bm25', '--out', path.join(root, 'r3')]), { mentions: [missing] }));
    record(AREA, 'fit --train missing', await classifyRun(await runCli('fit', fitArgs(missing, path.join(root, 'f3'))), { mentions: [missing] }));
    record(AREA, 'evaluate --data missing', await classifyRun(await runCli('evaluate', ['--data', path.join(root, 'no-beir'), '--model', 'bm25']), { mentions: [path.join(root, 'no-beir')] }));
  });
});

const isRoot = process.getuid?.() === 0;
describe.skipIf(!isRoot)('permission denied (an unprivileged child process)', () => {
  it('an unreadable --queries file and an unwritable --out folder', () => {
    const secret = path.join(root, 'secret.jsonl');
    fs.copyFileSync(path.join(beir, 'queries.jsonl'), secret);
    fs.chmodSync(secret, 0o000);
    const locked = path.join(root, 'locked');
    fs.mkdirSync(locked, { recursive: true });
    fs.chmodSync(locked, 0o555);
    fs.chmodSync(root, 0o755);
    const main = path.resolve(__dirname, '..', '..', 'dist', 'lib', 'cli', 'main.js');
    if (!fs.existsSync(main)) {
      console.log('robustness/disks: permission cases skipped: dist/ is not built (npm run build)');
      return;
    }
    const asNobody = (args: string[]) => {
      const r = spawnSync(process.execPath, [main, ...args], { uid: 65534, gid: 65534, encoding: 'utf8', timeout: 60_000, cwd: os.tmpdir() });
      return { code: r.status, signal: r.signal, err: r.stderr ?? '', out: r.stdout ?? '', timedOut: r.error?.message.includes('ETIMEDOUT') };
    };
    const corpus = path.join(beir, 'corpus.jsonl');
    return (async () => {
      record(AREA, 'synthesize --queries unreadable (EACCES)', await classifyRun(asNobody(['synthesize', '--queries', secret, '--corpus', corpus, '--miner', 'bm25', '--scorer', 'bm25', '--out', path.join(os.tmpdir(), `synthtune-nobody-${process.pid}`)]), { mentions: [secret, /permission denied|EACCES/] }));
      record(AREA, 'synthesize --out in an unwritable folder (EACCES)', await classifyRun(asNobody(['synthesize', '--queries', path.join(beir, 'queries.jsonl'), '--corpus', corpus, '--miner', 'bm25', '--scorer', 'bm25', '--out', path.join(locked, 'run')]), { mentions: [locked, /permission denied|EACCES/] }));
    })();
  }, 120_000);
});
