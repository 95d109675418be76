/**
 * A TypeScript child process (through vite-node, no build step) that the test kills with SIGKILL
 * as soon as it prints STOPPED: the resume-after-kill tests of synthesis and fit.
 */
import { spawn } from 'node:child_process';
import * as path from 'node:path';

export const ROOT = path.resolve(__dirname, '..', '..');
const VITE_NODE = path.join(ROOT, 'node_modules', 'vite-node', 'vite-node.mjs');

/** Runs `file`; resolves when it exits 0 or was SIGKILLed after STOPPED, rejects otherwise (with its stderr). */
export function runKillable(file: string, env: Record<string, string>): Promise<{ killed: boolean; stdout: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [VITE_NODE, file], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let killed = false;
    child.stdout.on('data', (d) => {
      stdout += d;
      if (stdout.includes('STOPPED') && !killed) {
        killed = true;
        process.kill(child.pid!, 'SIGKILL');
      }
    });
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (killed && signal === 'SIGKILL') resolve({ killed, stdout });
      else if (code === 0) resolve({ killed, stdout });
      else reject(new Error(`child exited ${code ?? signal}: ${stderr}`));
    });
  });
}
