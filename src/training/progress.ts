/**
 * What train() shows while it runs. In a notebook: one output with a progress bar (batch of total,
 * samples/s, ETA, smoothed loss), a per-epoch table, notes and messages, updated in place at most 4
 * times a second, and one live chart: a panel per metric (loss first) with the per-epoch "train" and
 * "validation" series drawn exactly as History.plot() draws them, plus a thin "train (batches)" line
 * of the smoothed batch loss in the loss panel. Elsewhere: one text line per epoch.
 *
 * The live chart is the display of the training's History: given `history`, the view ties the two to
 * this cell execution, and that History as the same cell's value shows as text only (see history.ts).
 *
 *   const view = new ProgressView(verbose, epochs, stepsPerEpoch, { metrics: ["accuracy"], labelSmoothing: 0.1, classes: 10, history });
 *   view.batch(epoch, batchNo, samplesPerSec, etaSec, smoothLoss, lr);
 *   view.epochEnd(epoch, logs);          // logs: loss, accuracy, val_loss, val_accuracy, lr, time_s, ...
 *   view.message("Early stopping: ...");  // "info" (default) or "warning" (NaN loss, interrupts)
 *   view.close();
 *
 * The old form `new ProgressView(verbose, epochs, stepsPerEpoch, classification)` still works
 * (metrics ["accuracy"] when classification; the History is tied to the chart when it records an
 * epoch in the same cell while the view is open).
 */
import { outputCell, display, html, inKernel, mime, type DisplayHandle } from "../display/display";
import { available as commsAvailable } from "../display/comms";
import { Button } from "../display/widgets/controls";
import { live, type LiveFigure } from "../display/plot/live";
import { History, formatMetric, labelSmoothingNote, linkLiveChart, openLiveChart, setOpenLiveChart, trainingFigure } from "./history";
import type { Logs } from "./callbacks";

export interface ProgressOptions {
  /** Metric names besides the loss, one chart panel each, e.g. ["accuracy"], ["mae"], ["top3"]; logs carry them and val_<name>. */
  metrics: string[];
  /** Label smoothing of the training loss (0 or absent: none). With `classes`, a note gives the loss floor. */
  labelSmoothing?: number;
  /** Number of classes (for the label smoothing floor). */
  classes?: number;
  /** The History train() returns: its earlier epochs (resume) start the chart, the notes and params go into it, and it is tied to the chart. */
  history?: History;
}

/** How a message is shown: info in the normal text colour; warning marked (NaN loss, interrupts). */
export type MessageLevel = "info" | "warning";

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
  private readonly messages: { text: string; level: MessageLevel }[] = [];
  private readonly notes: string[] = [];
  private status = "";
  private readonly notebook: boolean;
  private readonly metrics: string[];
  /** The per-epoch series of the chart (earlier epochs of a resumed History, then this run's). */
  private readonly series = new History();
  private readonly batchX: number[] = [];
  private readonly batchY: number[] = [];
  /** The fallback tie (old constructor form): this view's entry in history.ts's open live chart. */
  private openEntry?: { cell: string };
  /** Updates sent to the progress output (for tests of the rate limit). */
  updates = 0;
  /** Set when the user pressed the training display's Stop button. */
  private stopClicked = false;
  private stop?: { button: Button; handle: DisplayHandle };

  constructor(
    private readonly verbose: Verbosity,
    private readonly epochs: number,
    private readonly stepsPerEpoch: number,
    /** The options, or (the old form) whether it is classification: metrics ["accuracy"] or none. */
    options: ProgressOptions | boolean,
  ) {
    const opts: ProgressOptions = typeof options === "boolean" ? { metrics: options ? ["accuracy"] : [] } : options ?? { metrics: [] };
    this.metrics = [...new Set((opts.metrics ?? []).filter((m) => m !== "loss" && !m.startsWith("val_")))];
    const history = opts.history;
    if (history) {
      if (!history.params) history.params = { epochs, steps: stepsPerEpoch };
      history.epochs.forEach((e, i) => {
        const logs: Logs = {};
        for (const [k, v] of Object.entries(history.metrics)) logs[k] = v[i];
        this.series.record(e, logs);
      });
    }
    const eps = opts.labelSmoothing ?? 0;
    if (eps > 0 && opts.classes !== undefined && opts.classes >= 2) {
      const note = labelSmoothingNote(eps, opts.classes);
      this.notes.push(note);
      if (history && !history.notes.includes(note)) history.notes.push(note);
    }
    this.notebook = inKernel() && verbose > 0;
    this.lastDraw = Date.now();
    if (this.notebook) {
      this.handle = display(this.render());
      // A Stop button where a frontend can draw widgets: it stops training after the current batch, as an
      // interrupt does. When training ends its output is emptied, so saved notebooks keep no dead control.
      if (commsAvailable()) this.offerStopButton();
      this.chart = live(this.figure(), { maxUpdatesPerSecond: 4 });
      const cell = outputCell();
      if (cell !== undefined) {
        if (history) linkLiveChart(history, cell);
        else setOpenLiveChart((this.openEntry = { cell }));
      }
    } else if (verbose > 0) {
      for (const n of this.notes) process.stdout.write(`note: ${n}\n`);
    }
  }

  /** The Stop button: pressing it asks the engine to stop after the current batch (see stopRequested). */
  private offerStopButton(): void {
    try {
      const button = new Button({ description: "Stop training", button_style: "danger", icon: "stop", tooltip: "Stop after the current batch, as an interrupt does" });
      button.onClick(() => {
        this.stopClicked = true;
        button.description = "Stopping after this batch…";
        button.disabled = true;
      });
      this.stop = { button, handle: button.display() };
    } catch {
      /* no widgets here: training runs without the button */
    }
  }

  /** What asked training to stop from this view (its Stop button), or undefined. */
  stopRequested(): string | undefined {
    return this.stopClicked ? "the Stop button" : undefined;
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
    if (this.chart && Number.isFinite(smoothLoss)) {
      // The batch line only: epoch means go to the per-epoch "train" series (epochEnd), never here.
      this.batchX.push(epoch - 1 + step / this.stepsPerEpoch);
      this.batchY.push(smoothLoss);
      this.redrawChart();
    }
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
    this.series.record(epoch, logs);
    if (this.verbose === 0) return;
    if (!this.notebook || this.verbose === 2) {
      const parts = Object.entries(logs).map(([k, v]) => `${k} ${formatMetric(v)}`);
      process.stdout.write(`epoch ${epoch}/${this.epochs}  ${parts.join("  ")}\n`);
    }
    if (this.notebook) {
      this.status = `<div style="font-family:monospace">epoch ${epoch}/${this.epochs} done</div>`;
      this.draw();
      this.redrawChart();
    }
  }

  /**
   * A line under the table: "info" in the normal text colour (ctx.log, early stopping), "warning"
   * marked in amber (NaN loss, interrupts). Outside a notebook info is printed when verbose > 0 and
   * warnings always. Without a level, a text about a NaN/infinite loss or an interrupt is a warning.
   */
  message(text: string, level?: MessageLevel): void {
    const lvl: MessageLevel = level ?? (/NaN|interrupt|infinite/i.test(text) ? "warning" : "info");
    this.messages.push({ text, level: lvl });
    if (this.notebook) this.draw();
    else if (this.verbose > 0 || lvl === "warning") process.stdout.write(text + "\n");
  }

  close(): void {
    if (this.stop) {
      this.stop.button.close();
      this.stop.handle.update(mime({ "text/plain": "" }));
      this.stop = undefined;
    }
    if (this.notebook) this.draw();
    this.chart?.flush();
    this.chart?.close();
    if (this.openEntry && openLiveChart() === this.openEntry) setOpenLiveChart(undefined);
    this.openEntry = undefined;
  }

  /** The chart as it is now: History.plot()'s panels for this run's series, plus the batch line. */
  figure() {
    return trainingFigure(this.series.epochs, this.series.metrics, this.metrics, { x: this.batchX, y: this.batchY });
  }

  private redrawChart(): void {
    try {
      this.chart?.replace(this.figure());
    } catch {
      /* a closed chart (a call after close()) draws nothing */
    }
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
    const notes = this.notes.map((n) => `<div class="lepton-note" style="font-family:monospace;opacity:0.8">note: ${escapeHtml(n)}</div>`).join("");
    const msgs = this.messages
      .map((m) =>
        m.level === "warning"
          ? `<div class="lepton-warning" style="color:#b45309;font-weight:bold;font-family:monospace">⚠ ${escapeHtml(m.text)}</div>`
          : `<div class="lepton-info" style="font-family:monospace">${escapeHtml(m.text)}</div>`,
      )
      .join("");
    const text = [
      this.status.replace(/<[^>]*>/g, ""),
      ...this.rows.map((r) => `epoch ${r.epoch}: ` + names.map((n) => `${n} ${formatMetric(r.logs[n])}`).join("  ")),
      ...this.notes.map((n) => `note: ${n}`),
      ...this.messages.map((m) => (m.level === "warning" ? `warning: ${m.text}` : m.text)),
    ].filter((l) => l !== "").join("\n");
    return html(`<div>${this.status}${table}${notes}${msgs}</div>`, text || "training…");
  }
}
