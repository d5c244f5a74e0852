/**
 * interact: controls made from a spec, a function re-run on their changes with its output in an Output
 * widget (as ipywidgets' interact / interactive).
 *
 *   lepton.widgets.interact(({ lr, epochs, act }) => console.log(lr, epochs, act),
 *     { lr: [1e-3, 1, "log"], epochs: [1, 20], act: ["relu", "tanh"] });
 *
 * A spec entry makes a control, its description the key:
 *   [min, max] or [min, max, step]  IntSlider when both ends (and the step) are integers, else FloatSlider;
 *                                   the value starts in the middle (on a step)
 *   [min, max, "log"] / [min, max, step, "log"]  FloatLogSlider from min to max (values, not exponents;
 *                                   step is in exponents, default 0.1); starts at the geometric middle
 *   an array of strings (or [label, value] pairs), or any other array that is not a range: Dropdown,
 *                                   the first selected
 *   { options: [...] or {label: value}, value? }   Dropdown (numbers as choices: { options: [16, 32, 64] })
 *   true / false                    Checkbox
 *   a string                        Text
 *   a number                        a slider around it (as ipywidgets: -v..3v), starting at it
 *   a widget with a value           itself
 *
 * fn runs once at once with the starting values (so a notebook run without a widget frontend, by
 * nbclient or `lepton run`, still shows its output), then after changes: debounced (changes within
 * `debounceMs`, default 100, make one call with the latest values), never two calls at once (a change
 * during a call makes one more call after it). The Output is cleared before each call; what fn prints,
 * displays or throws goes into it. A frontend change's handler waits for the call that covers it, so the
 * frontend keeps listening for that output (and, as ipywidgets 8's frontends send one update at a time,
 * a drag becomes few calls).
 */
import { DISPLAY_SYMBOL, type MimeBundle } from "../display";
import { Checkbox, Dropdown, FloatLogSlider, FloatSlider, IntSlider, Output, Text, VBox, ValueWidget, type BoxOptions } from "./controls";
import { Widget, liveParent, reportCallbackError, runAsLive } from "./widget";

/** One entry of an interact spec. */
export type InteractAbbrev =
  | readonly [number, number]
  | readonly [number, number, number]
  | readonly [number, number, "log"]
  | readonly [number, number, number, "log"]
  | readonly (number | string)[]
  | readonly string[]
  | readonly (readonly [string, unknown])[]
  | boolean
  | string
  | number
  | { readonly options: readonly unknown[] | Record<string, unknown>; readonly value?: unknown }
  | ValueWidget<any>;

export type InteractSpec = Record<string, InteractAbbrev>;

/** The value type a spec entry gives fn. */
export type InteractValue<A> = A extends ValueWidget<infer V>
  ? V
  : A extends { readonly options: readonly (infer O)[] }
    ? O extends readonly [string, infer V] ? V : O
    : A extends { readonly options: Record<string, infer V> }
      ? V
      : A extends boolean
    ? boolean
    : A extends string
      ? string
      : A extends number
        ? number
        : A extends readonly (readonly [string, infer V])[]
          ? V
          : A extends readonly string[]
            ? string
            : A extends readonly (number | string)[]
              ? number
              : unknown;

export type InteractValues<S> = { [K in keyof S]: InteractValue<S[K]> };

export interface InteractOptions {
  /** Changes within this many milliseconds make one call (default 100). */
  debounceMs?: number;
  /** Clear the Output before each call (default true). */
  clearOutput?: boolean;
  /** Options of the VBox that holds the controls and the Output. */
  box?: BoxOptions;
}

/** What interact returns. */
export interface Interactive<S> {
  /** The controls, by spec key. */
  readonly controls: { [K in keyof S]: ValueWidget<InteractValue<S[K]>> };
  /** Same as controls. */
  readonly widgets: { [K in keyof S]: ValueWidget<InteractValue<S[K]>> };
  /** Where fn's output goes. */
  readonly output: Output;
  /** The VBox with the controls and the Output. */
  readonly box: VBox;
  /** The controls' current values. */
  readonly values: InteractValues<S>;
  /** Settles when the first call (with the starting values) has finished. */
  readonly ready: Promise<void>;
  /** Call fn now with the current values (after a call in progress); settles when it has run. */
  update(): Promise<void>;
  /** Close the controls, the Output and the box. */
  close(): void;
  [DISPLAY_SYMBOL](): MimeBundle;
}

function isInt(v: unknown): boolean {
  return typeof v === "number" && Number.isInteger(v);
}

/** The control for one spec entry. */
export function controlFor(name: string, abbrev: InteractAbbrev): ValueWidget<any> {
  const description = name;
  if (abbrev instanceof ValueWidget) return abbrev;
  if (abbrev instanceof Widget) throw new TypeError(`interact: "${name}" is a widget without a value`);
  if (typeof abbrev === "boolean") return new Checkbox({ value: abbrev, description });
  if (typeof abbrev === "string") return new Text({ value: abbrev, description });
  if (typeof abbrev === "number") {
    if (!Number.isFinite(abbrev)) throw new TypeError(`interact: "${name}" is not a finite number`);
    const [min, max] = abbrev === 0 || Math.abs(abbrev) === 1 ? [abbrev - 1, abbrev + 1] : abbrev > 0 ? [-abbrev, 3 * abbrev] : [3 * abbrev, -abbrev];
    return isInt(abbrev) ? new IntSlider({ value: abbrev, min, max, description }) : new FloatSlider({ value: abbrev, min, max, step: (max - min) / 100, description });
  }
  if (Array.isArray(abbrev)) {
    const a = abbrev as readonly unknown[];
    const log = a[a.length - 1] === "log";
    const nums = log ? a.slice(0, -1) : a;
    const isRange = nums.length >= 2 && nums.length <= 3 && nums.every((n) => typeof n === "number" && Number.isFinite(n)) &&
      (nums[0] as number) < (nums[1] as number) && (nums.length === 2 || ((nums[2] as number) > 0 && (log || (nums[2] as number) <= (nums[1] as number) - (nums[0] as number))));
    if (log && !isRange) throw new RangeError(`interact: "${name}": a log range is [min, max, "log"] or [min, max, step, "log"] with 0 < min < max`);
    if (isRange) {
      const [min, max, step] = nums as number[];
      if (!(min < max)) throw new RangeError(`interact: "${name}": min (${min}) must be below max (${max})`);
      if (log) {
        if (!(min > 0)) throw new RangeError(`interact: "${name}": a log range needs min > 0`);
        const lo = Math.log10(min);
        const hi = Math.log10(max);
        const s = step ?? 0.1;
        const mid = lo + Math.round((hi - lo) / 2 / s) * s;
        return new FloatLogSlider({ min: lo, max: hi, step: s, value: 10 ** mid, description });
      }
      if (isInt(min) && isInt(max) && (step === undefined || isInt(step))) {
        const s = step ?? 1;
        return new IntSlider({ min, max, step: s, value: min + Math.floor((max - min) / s / 2) * s, description });
      }
      const s = step ?? (max - min) / 100;
      return new FloatSlider({ min, max, step: s, value: min + Math.round((max - min) / s / 2) * s, description });
    }
    if (a.length > 0 && a.every((o) => typeof o === "string" || (Array.isArray(o) && o.length === 2 && typeof o[0] === "string"))) {
      return new Dropdown({ options: a as any, description });
    }
    if (a.length > 0 && !log) return new Dropdown({ options: a as any, description });
  }
  if (abbrev && typeof abbrev === "object" && "options" in abbrev) {
    const o = abbrev as { options: any; value?: unknown };
    return new Dropdown({ options: o.options, ...(o.value !== undefined ? { value: o.value } : {}), description });
  }
  throw new TypeError(`interact: cannot make a control for "${name}" from ${JSON.stringify(abbrev)}`);
}

/** Debounced, one-at-a-time calls. */
class Scheduler {
  private timer: ReturnType<typeof setTimeout> | undefined;
  private waiters: (() => void)[] = [];
  private running: Promise<void> | undefined;
  private live: unknown;

  constructor(private readonly delayMs: number, private readonly call: () => Promise<void>) {}

  /** A call soon (after the quiet time); settles when a call that started after this request has finished. */
  request(live: unknown): Promise<void> {
    if (live !== undefined) this.live = live;
    if (this.timer) clearTimeout(this.timer);
    const done = new Promise<void>((resolve) => this.waiters.push(resolve));
    this.timer = setTimeout(() => void this.fire(), this.delayMs);
    return done;
  }

  /** A call now (after one in progress). */
  now(live: unknown): Promise<void> {
    if (live !== undefined) this.live = live;
    if (this.timer) clearTimeout(this.timer);
    const done = new Promise<void>((resolve) => this.waiters.push(resolve));
    void this.fire();
    return done;
  }

  private async fire(): Promise<void> {
    this.timer = undefined;
    while (this.running) {
      await this.running;
      if (this.timer) return; // a newer request set its own timer: it makes the call
    }
    if (this.waiters.length === 0) return;
    const waiters = this.waiters.splice(0);
    const live = this.live;
    this.running = runAsLive(live as Record<string, unknown> | undefined, () => this.call());
    try {
      await this.running;
    } finally {
      this.running = undefined;
      for (const w of waiters) w();
    }
  }
}

function build<S extends InteractSpec>(fn: (values: InteractValues<S>) => unknown, spec: S, options: InteractOptions, show: boolean): Interactive<S> {
  if (typeof fn !== "function") throw new TypeError("interact() takes a function first");
  if (!spec || typeof spec !== "object") throw new TypeError("interact() takes a spec object second ({ name: range, options or default })");
  const controls = {} as { [K in keyof S]: ValueWidget<any> };
  for (const [name, abbrev] of Object.entries(spec)) (controls as any)[name] = controlFor(name, abbrev);
  const output = new Output();
  const box = new VBox([...Object.values(controls), output], options.box ?? {});
  const values = () => Object.fromEntries(Object.entries(controls).map(([k, w]) => [k, (w as ValueWidget<unknown>).value])) as InteractValues<S>;
  const clear = options.clearOutput ?? true;

  const call = async () => {
    await output.capture(async () => {
      if (clear) output.clear({ wait: true });
      try {
        await fn(values());
      } catch (err) {
        reportCallbackError("interact function", undefined, err);
      }
    });
  };
  const scheduler = new Scheduler(Math.max(0, options.debounceMs ?? 100), call);
  const unsubscribe = Object.values(controls).map((w) =>
    (w as ValueWidget<unknown>).onChange(() => scheduler.request(liveParent())));

  if (show) box.display();
  const ready = scheduler.now(liveParent());
  const result: Interactive<S> = {
    controls: controls as any,
    widgets: controls as any,
    output,
    box,
    get values() {
      return values();
    },
    ready,
    update: () => scheduler.now(liveParent()),
    close() {
      for (const u of unsubscribe) u();
      box.close();
      output.close();
      for (const w of Object.values(controls)) if (!(Object.values(spec) as unknown[]).includes(w)) (w as Widget).close();
    },
    [DISPLAY_SYMBOL]: () => box[DISPLAY_SYMBOL](),
  };
  return result;
}

/**
 * Controls for `spec`, shown now (with an Output under them), and `fn(values)` called with the starting
 * values and again after changes (debounced; see the module's comment). Returns the controls, the
 * Output, the current `values` and `ready` (the first call's end). As a cell's last value it shows
 * nothing more (the controls are already shown).
 */
export function interact<S extends InteractSpec>(fn: (values: InteractValues<S>) => unknown, spec: S, options: InteractOptions = {}): Interactive<S> {
  const built = build(fn, spec, options, true);
  const shown = { ...built, [DISPLAY_SYMBOL]: (): MimeBundle => ({}) };
  Object.defineProperty(shown, "values", { get: () => built.values, enumerable: true });
  return shown as Interactive<S>;
}

/** The same as interact, without showing it: display the result (or its `box`) where you want it. */
export function interactive<S extends InteractSpec>(fn: (values: InteractValues<S>) => unknown, spec: S, options: InteractOptions = {}): Interactive<S> {
  return build(fn, spec, options, false);
}
