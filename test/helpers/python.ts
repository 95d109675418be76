/**
 * Whether python3 can import the modules a test needs: null when it can, else why not (for the
 * skip message). Tests that compare with PyTorch / sentence-transformers / onnxruntime skip on it.
 */
import { spawnSync } from 'node:child_process';

export function pythonMissing(modules: string[]): string | null {
  const r = spawnSync('python3', ['-c', `import ${modules.join(', ')}`], { encoding: 'utf8' });
  if (r.error) return `python3 not runnable (${r.error.message})`;
  return r.status === 0 ? null : `python3 lacks ${modules.join(' / ').replace(/_/g, '-')} (${(r.stderr || '').trim().split('\n').pop()})`;
}
