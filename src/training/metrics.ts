/**
 * Classification metrics from true and predicted labels: confusion matrix, per-class precision,
 * recall, F1 and support, macro and weighted averages (scikit-learn's definitions, with 0 where a
 * ratio has a zero denominator).
 */

export interface ClassMetrics {
  precision: number;
  recall: number;
  f1: number;
  /** Number of samples whose true label is this class (for averages: all samples). */
  support: number;
}

export interface ClassificationMetrics {
  accuracy: number;
  /** confusion[t][p] = samples of true class t predicted as p. */
  confusion: number[][];
  perClass: ClassMetrics[];
  macro: ClassMetrics;
  weighted: ClassMetrics;
}

export function confusionMatrix(labels: ArrayLike<number>, preds: ArrayLike<number>, k: number): number[][] {
  if (labels.length !== preds.length) throw new Error(`confusionMatrix: ${labels.length} labels but ${preds.length} predictions.`);
  const m = Array.from({ length: k }, () => new Array(k).fill(0));
  for (let i = 0; i < labels.length; i++) {
    const t = labels[i];
    const p = preds[i];
    if (!(t >= 0 && t < k && p >= 0 && p < k)) throw new Error(`confusionMatrix: label ${t} or prediction ${p} at ${i} is outside 0..${k - 1}.`);
    m[t][p]++;
  }
  return m;
}

export function classificationMetrics(labels: ArrayLike<number>, preds: ArrayLike<number>, k: number): ClassificationMetrics {
  const confusion = confusionMatrix(labels, preds, k);
  const n = labels.length;
  let correct = 0;
  const perClass: ClassMetrics[] = [];
  for (let c = 0; c < k; c++) {
    const tp = confusion[c][c];
    correct += tp;
    let predicted = 0;
    for (let t = 0; t < k; t++) predicted += confusion[t][c];
    const support = confusion[c].reduce((a, b) => a + b, 0);
    const precision = predicted ? tp / predicted : 0;
    const recall = support ? tp / support : 0;
    const f1 = precision + recall ? (2 * precision * recall) / (precision + recall) : 0;
    perClass.push({ precision, recall, f1, support });
  }
  const avg = (w: (m: ClassMetrics) => number): ClassMetrics => {
    const total = perClass.reduce((a, m) => a + w(m), 0);
    const mean = (f: (m: ClassMetrics) => number) => (total ? perClass.reduce((a, m) => a + w(m) * f(m), 0) / total : 0);
    return { precision: mean((m) => m.precision), recall: mean((m) => m.recall), f1: mean((m) => m.f1), support: n };
  };
  return {
    accuracy: n ? correct / n : 0,
    confusion,
    perClass,
    macro: avg(() => 1),
    weighted: avg((m) => m.support),
  };
}
