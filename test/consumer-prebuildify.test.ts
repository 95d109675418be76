/**
 * scripts/prebuildify.js's command line (issue 16): bad arguments are refused with the valid
 * choices, and a target whose toolchain is missing is skipped with what to install, or, under
 * --all (what `npm pack` runs), fails before anything is built or removed. The builds themselves
 * are exercised by scripts/consumer-check.sh (CI), which packs and installs the result.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';

const root = path.join(__dirname, '..');
const script = path.join(root, 'scripts', 'prebuildify.js');

function run(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [script, ...args], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, SYNTHTUNE_PREBUILD_TARGETS: '', ...env },
  });
  return { status: r.status, stderr: r.stderr };
}

function listing(): string {
  const dir = path.join(root, 'prebuilds');
  if (!fs.existsSync(dir)) return '';
  return fs
    .readdirSync(dir, { recursive: true })
    .map(String)
    .sort()
    .map((f) => `${f}:${fs.statSync(path.join(dir, f)).mtimeMs}`)
    .join('\n');
}

describe('scripts/prebuildify.js', () => {
  it('refuses an unknown target, naming the valid ones', () => {
    const r = run(['--targets', 'linux-x64-gnu']);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/unknown target 'linux-x64-gnu': one of linux-x64-glibc, linux-arm64-glibc, linux-x64-musl, linux-arm64-musl/);
  });

  it('refuses an unknown argument', () => {
    const r = run(['--al']);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/unknown argument '--al'/);
  });

  it('skips a target whose toolchain is missing, and says what to set', () => {
    const before = listing();
    const r = run(['--targets', 'linux-x64-musl'], { SYNTHTUNE_ZIG: '/nonexistent/zig' });
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(/linux-x64-musl: skipped, no zig \(set SYNTHTUNE_ZIG/);
    expect(listing()).toBe(before);
  });

  it('under --all fails on a missing toolchain before building or removing anything', () => {
    const before = listing();
    const r = run(['--all', '--targets', 'linux-x64-musl'], { SYNTHTUNE_ZIG: '/nonexistent/zig' });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/missing toolchains, the package would lack these prebuilt binaries:\n\s+linux-x64-musl: zig/);
    expect(listing()).toBe(before);
  });
});
