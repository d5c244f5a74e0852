/**
 * lepton training: train / fitOneCycle, evaluate, lrFind, summary, save / load, optimizers,
 * schedules and callbacks.
 */
export { train, fitOneCycle, NonFiniteLossError } from "./train";
export type { TrainOptions } from "./train";
export { History } from "./history";
export { evaluate, EvaluationReport } from "./evaluate";
export type { EvaluateOptions, TopLoss, ConfusedPair } from "./evaluate";
export { classificationMetrics, confusionMatrix } from "./metrics";
export type { ClassMetrics, ClassificationMetrics } from "./metrics";
export { lrFind, LrFindResult, suggestLr } from "./lr_find";
export type { LrFindOptions, LrSuggestion } from "./lr_find";
export { summary, ModelSummary } from "./summary";
export type { LayerRow } from "./summary";
export { save, load, nodeFsHandler } from "./checkpoint_io";
export type { Loaded, TrainingState } from "./checkpoint_io";
export { Optimizer, makeOptimizer as optimizer } from "./optimizers";
export type { OptimizerSpec, OptimizerName, NamedTensor } from "./optimizers";
export { makeSchedule } from "./schedules";
export type { ScheduleSpec, LrFunction } from "./schedules";
export { sparseCrossEntropy, perSampleCrossEntropy } from "./losses";
export type { DataInput } from "./inputs";
export * as callbacks from "./callbacks";
export type { Callback, TrainContext, Logs } from "./callbacks";
export { predict, ClassPredictions, RegressionPredictions } from "./predict";
export type { Predictions, PredictOptions } from "./predict";
export { RegressionReport, regressionMetrics } from "./regression";
export type { RegressionMetrics, OutputMetrics } from "./regression";
export { defaultStep } from "./engine";
export type { StepFunction, StepContext, StepResult, BatchLogs, MessageLevel } from "./engine";
export type { LossSpec, LossName, LossFunction, MetricSpec, MetricName } from "./objective";
export { readState, loadOptimizer } from "./checkpoint_io";
