/**
 * Training: fit() with the Margin-MSE loss (and MultipleNegativesRankingLoss, CoSENT, CosineSimilarityLoss, SupCon), the students (adapter, static), optimizers and
 * schedules, callbacks, and the helpers that turn synthesized text examples into student inputs.
 */
export { fit, trainStep, lossStep, collectExamples, type FitOptions, type FitResult, type FitStatus } from './fit';
export {
  EvaluationCallback, EarlyStopping, BestModelCheckpoint, WiSEFTCallback,
  type Callback, type FitContext, type Metrics, type EpochSummary,
} from './callbacks';
export { marginMse, marginMseForward, marginMseBackward, type Score } from './losses/margin-mse';
export {
  LOSS_NAMES, lossByName, marginMseLoss, mnrlLoss, scoredLoss, supConLoss,
  type LossName, type LossSettings, type TrainingLoss, type TrainItem, type PairItem, type ScoredItem, type LabeledItem,
} from './losses';
export { mnrl } from './losses/mnrl';
export { cosent } from './losses/cosent';
export { cosineSimilarityLoss } from './losses/cosine-similarity';
export { supCon, labelBatchOrder } from './losses/supcon';
export { Adam, learningRate, type OptimizerName, type OptimizerOptions, type SchedulerSpec } from './optim';
export {
  normalizeExample, wiseFt, interpolateStates,
  type Student, type Param, type Forward, type Side, type Example, type StudentState,
} from './student';
export {
  AdapterStudent, StaticStudent, FullStudent, DenseHeadStudent, saveStudent, loadStudent, readStudentState, studentFromState, registerStudent,
  type AdapterOptions, type StaticOptions, type MatmulFn, type TokenIds,
} from './students';
export { encodeExamples, tokenizeExamples, type TextExample, type EncodedExamples } from './data';
export { retrievalEvaluator, type RetrievalEvalOptions } from './evaluation';
export {
  exportStatic, exportAdapter, exportFullSafetensors, exportQuantized, HF_ARCHITECTURES,
  type StaticExportOptions, type AdapterExportOptions, type AdapterExport, type FullExport, type FullExportOptions, type StaticExport, type QuantizedExport,
} from './export';
export { fitRun, readTrainRows, readTrainSet, KIND_LOSSES, methodDefaults, type FitRunOptions, type FitRunResult } from './run';
