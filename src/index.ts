/**
 * lepton: a TypeScript deep-learning workbench for Jupyter.
 *
 *   import * as lepton from "lepton";
 *
 * Layers: data → models → training → display. Each folder exports its own API; this file
 * gathers them under one name.
 */
export { display, html, mime, inKernel, clearOutput, DISPLAY_SYMBOL } from "./display/display";
export { input, password } from "./runtime/stdin";
export type { MimeBundle, Displayable, DisplayHandle } from "./display/display";
export type { Dataset, Batch, BatchOptions, SplitOptions } from "./data/types";
export { ready, backend, backendLine } from "./backend";
export type { BackendInfo } from "./backend";
export { interruptRequested, throwIfInterrupted, InterruptedError } from "./runtime/interrupt";
export * as data from "./data";
export * as plot from "./display/plot";
export { record } from "./display/record";
export { comms } from "./display/comms";
export * as widgets from "./display/widgets";
export type { Comm, CommMessage, CommCallback, CommTargetHandler, CommBuffer } from "./display/comms";
export * as models from "./models";
export { train, fitOneCycle, evaluate, lrFind, summary, save, load, optimizer, Optimizer, History, EvaluationReport, LrFindResult, ModelSummary, NonFiniteLossError, callbacks } from "./training";
export type { TrainOptions, EvaluateOptions, LrFindOptions, OptimizerSpec, ScheduleSpec, Callback, TrainContext, Logs, DataInput, Loaded } from "./training";
export { predict, ClassPredictions, RegressionPredictions, RegressionReport, regressionMetrics } from "./training";
export type { Predictions, PredictOptions, RegressionMetrics, OutputMetrics } from "./training";
export { defaultStep } from "./training";
export type { StepFunction, StepContext, StepResult, BatchLogs, LossSpec, MetricSpec } from "./training";
