/**
 * What train() shows while it runs. In a notebook: one output with a progress bar (batch of total,
 * samples/s, ETA, smoothed loss) and a per-epoch table, updated in place at most 4 times a second,
 * and a live chart of train/validation loss and accuracy. Elsewhere: one text line per epoch.
 */
import { display, html, inKernel, type DisplayHandle } from "../display/display";
import { line } from "../display/plot/charts";
import { subplots } from "../display/plot/subplots";
import { live, type LiveFigure } from "../display/plot/live";
import { formatMetric } from "./history";
import type { Logs } from "./callbacks";

/** 0: silent; 1: progress bar, table and chart in notebooks, a line per epoch elsewhere; 2: also per-epoch lines in notebooks. */
export type Verbosity = 0 | 1 | 2;

const MIN_INTERVAL_MS = 250;
const TEXT_INTERVAL_MS = 10_000;

function escapeHtml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

function formatDuration(s: number): string {
  if (!Number.isFinite(s)) return "?";
  if (s < 60) return `${s.toFixed(0)}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(Math.floor(s % 60)).padStart(2, "0")}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, "0")}m`;
}

export class ProgressView {
  private handle?: DisplayHandle;
  private chart?: LiveFigure;
  private lastDraw = 0;
  private readonly rows: { epoch: number; logs: Logs }[] = [];
  private readonly messages: string[] = [];
  private status = "";
  private readonly notebook: boolean;
  /** Updates sent to the progress output (for tests of the rate limit). */
  updates = 0;

  constructor(
    private readonly verbose: Verbosity,
    private readonly epochs: number,
    private readonly stepsPerEpoch: number,
    private readonly classification: boolean,
  ) {
    this.notebook = inKernel() && verbose > 0;
    this.lastDraw = Date.now();
    if (this.notebook) {
      this.handle = display(this.render());
      const lossFig = line([{ x: [], y: [], name: "train" }, { x: [], y: [], name: "validation" }] as any, { title: "Loss", xaxis: { title: "epoch" } });
      const figs = [lossFig];
      if (classification) {
        figs.push(line([{ x: [], y: [], name: "train" }, { x: [], y: [], name: "validation" }] as any, { title: "Accuracy", xaxis: { title: "epoch" } }));
      }
      this.chart = live(figs.length > 1 ? subplots(figs, { columns: 2, height: 320 }) : lossFig, { maxUpdatesPerSecond: 4 });
    }
  }

  /** Progress within an epoch; drawn at most every 250 ms. */
  batch(epoch: number, step: number, samplesPerSec: number, etaSec: number, smoothLoss: number, lr: number, force = false): void {
    const now = Date.now();
    if (!this.notebook) {
      // Scripts and tests: a plain progress line every 10 s, so long epochs are not silent.
      if (this.verbose > 0 && now - this.lastDraw >= TEXT_INTERVAL_MS) {
        process.stdout.write(this.bar(epoch, step, samplesPerSec, etaSec, smoothLoss, lr).replace(/<[^>]*>/g, "") + "\n");
        this.lastDraw = now;
      }
      return;
    }
    if (!force && now - this.lastDraw < MIN_INTERVAL_MS) return;
    this.lastDraw = now;
    this.status = this.bar(epoch, step, samplesPerSec, etaSec, smoothLoss, lr);
    this.draw();
    if (this.chart && Number.isFinite(smoothLoss)) this.chart.extend(0, epoch - 1 + step / this.stepsPerEpoch, smoothLoss);
  }

  private bar(epoch: number, step: number, sps: number, eta: number, loss: number, lr: number): string {
    const pct = Math.min(100, (100 * step) / this.stepsPerEpoch);
    return (
      `<div style="font-family:monospace">epoch ${epoch}/${this.epochs} ` +
      `<progress value="${step}" max="${this.stepsPerEpoch}" style="width:220px;vertical-align:middle"></progress> ` +
      `${step}/${this.stepsPerEpoch} (${pct.toFixed(0)}%) · ${sps.toFixed(0)} samples/s · ETA ${formatDuration(eta)} · ` +
      `loss ${formatMetric(loss)} · lr ${lr.toExponential(2)}</div>`
    );
  }

  epochEnd(epoch: number, logs: Logs): void {
    this.rows.push({ epoch, logs });
    if (this.verbose === 0) return;
    if (!this.notebook || this.verbose === 2) {
      const parts = Object.entries(logs).map(([k, v]) => `${k} ${formatMetric(v)}`);
      process.stdout.write(`epoch ${epoch}/${this.epochs}  ${parts.join("  ")}\n`);
    }
    if (this.notebook) {
      this.status = `<div style="font-family:monospace">epoch ${epoch}/${this.epochs} done</div>`;
      this.draw();
      if (this.chart) {
        this.chart.extend(0, epoch, logs.loss);
        if (logs.val_loss !== undefined) this.chart.extend(1, epoch, logs.val_loss);
        if (this.classification && logs.accuracy !== undefined) this.chart.extend(2, epoch, logs.accuracy);
        if (this.classification && logs.val_accuracy !== undefined) this.chart.extend(3, epoch, logs.val_accuracy);
      }
    }
  }

  /** A message that must be seen (stop reasons, NaN, interrupt): always printed, and shown in the cell. */
  message(text: string): void {
    this.messages.push(text);
    if (this.notebook) this.draw();
    else if (this.verbose > 0 || /NaN|interrupt|infinite/i.test(text)) process.stdout.write(text + "\n");
  }

  close(): void {
    if (this.notebook) this.draw();
    this.chart?.flush();
    this.chart?.close();
  }

  private draw(): void {
    this.updates++;
    this.handle?.update(this.render());
  }

  private render() {
    const names = [...new Set(this.rows.flatMap((r) => Object.keys(r.logs)))];
    const head = `<tr><th>epoch</th>${names.map((n) => `<th>${escapeHtml(n)}</th>`).join("")}</tr>`;
    const body = this.rows
      .map((r) => `<tr><td>${r.epoch}</td>${names.map((n) => `<td>${formatMetric(r.logs[n])}</td>`).join("")}</tr>`)
      .join("");
    const table = this.rows.length ? `<table style="font-family:monospace;margin-top:4px">${head}${body}</table>` : "";
    const msgs = this.messages.map((m) => `<div style="color:#b00;font-family:monospace">${escapeHtml(m)}</div>`).join("");
    const text = [
      this.status.replace(/<[^>]*>/g, ""),
      ...this.rows.map((r) => `epoch ${r.epoch}: ` + names.map((n) => `${n} ${formatMetric(r.logs[n])}`).join("  ")),
      ...this.messages,
    ].join("\n");
    return html(`<div>${this.status}${table}${msgs}</div>`, text || "training…");
  }
}
