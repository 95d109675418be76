/**
 * synthtune: adapt embedding models to your domain without labels.
 *
 * The pipeline's main entry points are exported by name; each stage is also available as a
 * namespace with its whole public surface (data, models, evaluation, synthesis, training).
 *
 *   const run = await synthesize({ queries, corpus, models: 'synthesisModelEn', out: 'runs/x' });
 *   const result = await fitRun({ train: run.trainData, method: 'static', ... });
 */
export * from './kernels';
export { synthesize, getRun, Run } from './synthesis';
export { fit, fitRun } from './training';
export { evaluate, Bm25Index, Bm25Builder } from './evaluation';
export { loadEncoder, loadCrossEncoder } from './models';
export { readBeir, readCsv, readJsonl, readText, readTrainingData, DataError } from './data';
export { ModelError } from './models';
// the error classes: a SynthtuneError (or an InputTypeError / InputRangeError) is the user's to fix
// and its message says how (isUserError); anything else thrown is a bug
export {
  SynthtuneError, RunError, FileSystemError, OptionsError, InputTypeError, InputRangeError, isUserError, userError, type ErrorKind,
} from './util/errors';

export * as data from './data';
export * as models from './models';
export * as evaluation from './evaluation';
export * as synthesis from './synthesis';
export * as training from './training';
