/** The registry of benchmark suites run by `synthtune bench [suite...]` / `npm run bench`. */
import type { Suite } from './harness';

/** Suites load lazily: the encode suite pulls in onnxruntime, the kernel suite must not. */
export const SUITES: Record<string, () => Promise<Suite>> = {
  kernels: async () => (await import('./kernels.js')).suite,
  encode: async () => (await import('./encode.js')).suite,
  mining: async () => (await import('./mining.js')).suite,
  train: async () => {
    // adapter/static students, then the native full-model step against onnxruntime's forward
    const [a, b] = [(await import('./train.js')).suite, (await import('./train-full.js')).trainFullSuite];
    return {
      name: 'train',
      description: `${a.description}; ${b.description}`,
      run: async (opts) => [...(await a.run(opts)), ...(await b.run(opts))],
    };
  },
};
