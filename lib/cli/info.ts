/** `synthtune info [--json]`: the active kernel backend, its SIMD level and threads, and why better ones were not loaded. */
import { backend } from '../kernels';
import { parseCli } from './util';

export async function run(argv: string[]): Promise<number> {
  const { values } = parseCli(argv, { json: { type: 'boolean' } });
  if (values.help) {
    process.stdout.write('usage: synthtune info [--json]\n');
    return 0;
  }
  const be = backend();
  if (values.json) {
    process.stdout.write(JSON.stringify(be) + '\n');
    return 0;
  }
  process.stdout.write(`backend: ${be.name}\nsimd: ${be.simd}\nthreads: ${be.threads}\n`);
  if (be.device) process.stdout.write(`device: ${be.device}\n`);
  for (const r of be.reasons) process.stdout.write(`not used: ${r}\n`);
  return 0;
}
