/**
 * summary(model): layer, output shape and parameter count of each layer with totals; an HTML
 * table in a notebook, text elsewhere.
 */
import type * as tf from "@tensorflow/tfjs";
import { DISPLAY_SYMBOL, type Displayable, type MimeBundle } from "../display/display";

export interface LayerRow {
  name: string;
  type: string;
  outputShape: string;
  params: number;
}

function escapeHtml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

function shapeText(shape: unknown): string {
  if (!Array.isArray(shape)) return String(shape);
  if (shape.length && Array.isArray(shape[0])) return shape.map(shapeText).join(", ");
  return `[${shape.map((d) => (d === null ? "null" : d)).join(", ")}]`;
}

export class ModelSummary implements Displayable {
  constructor(
    readonly name: string,
    readonly layers: LayerRow[],
    readonly totalParams: number,
    readonly trainableParams: number,
  ) {}

  get nonTrainableParams(): number {
    return this.totalParams - this.trainableParams;
  }

  toString(): string {
    const header = ["Layer (type)", "Output shape", "Params"];
    const rows = this.layers.map((l) => [`${l.name} (${l.type})`, l.outputShape, l.params.toLocaleString("en-US")]);
    const w = header.map((h, j) => Math.max(h.length, ...rows.map((r) => r[j].length)));
    const fmt = (r: string[]) => `${r[0].padEnd(w[0])}  ${r[1].padEnd(w[1])}  ${r[2].padStart(w[2])}`;
    const rule = "-".repeat(w[0] + w[1] + w[2] + 4);
    return [
      `Model: ${this.name}`,
      rule,
      fmt(header),
      rule,
      ...rows.map(fmt),
      rule,
      `Total params: ${this.totalParams.toLocaleString("en-US")}`,
      `Trainable params: ${this.trainableParams.toLocaleString("en-US")}`,
      `Non-trainable params: ${this.nonTrainableParams.toLocaleString("en-US")}`,
    ].join("\n");
  }

  [DISPLAY_SYMBOL](): MimeBundle {
    const cell = "padding:2px 10px;text-align:left";
    const num = "padding:2px 10px;text-align:right";
    const rows = this.layers
      .map((l) => `<tr><td style="${cell}">${escapeHtml(l.name)} <span style="color:#888">(${escapeHtml(l.type)})</span></td><td style="${cell}">${escapeHtml(l.outputShape)}</td><td style="${num}">${l.params.toLocaleString("en-US")}</td></tr>`)
      .join("");
    const markup =
      `<div><b>Model: ${escapeHtml(this.name)}</b><table style="border-collapse:collapse;font-family:monospace">` +
      `<tr><th style="${cell}">Layer (type)</th><th style="${cell}">Output shape</th><th style="${num}">Params</th></tr>${rows}` +
      `<tr style="border-top:1px solid #999"><td style="${cell}"><b>Total</b></td><td></td><td style="${num}"><b>${this.totalParams.toLocaleString("en-US")}</b></td></tr>` +
      `<tr><td style="${cell}">Trainable</td><td></td><td style="${num}">${this.trainableParams.toLocaleString("en-US")}</td></tr>` +
      `<tr><td style="${cell}">Non-trainable</td><td></td><td style="${num}">${this.nonTrainableParams.toLocaleString("en-US")}</td></tr>` +
      `</table></div>`;
    return { "text/html": markup, "text/plain": this.toString() };
  }
}

/** A table of the model's layers (displays as HTML in a notebook, text elsewhere). */
export function summary(model: tf.LayersModel): ModelSummary {
  if (!model || !Array.isArray((model as any).layers)) throw new Error("summary(model): pass a tf.LayersModel, e.g. lepton.summary(lepton.models.lenet()).");
  const layers: LayerRow[] = model.layers.map((l) => {
    let outputShape: string;
    try {
      outputShape = shapeText(l.outputShape);
    } catch {
      outputShape = "?";
    }
    return { name: l.name, type: l.getClassName(), outputShape, params: l.countParams() };
  });
  const trainable = model.trainableWeights.reduce((a, w) => a + (w.shape as number[]).reduce((x, y) => x * y, 1), 0);
  return new ModelSummary(model.name, layers, model.countParams(), trainable);
}
