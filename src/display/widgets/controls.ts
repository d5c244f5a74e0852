/**
 * The core controls of lepton.widgets, with ipywidgets 8's model names, attributes and defaults
 * (@jupyter-widgets/controls 2.0.0, packages/schema/jupyterwidgetmodels.v8.md): sliders, selection,
 * text, buttons, Play, boxes, Label/HTML, Output, and the Layout / style models they reference.
 */
import { runWithOutputParent, toMimeBundle, plainText, type MimeBundle } from "../display";
import {
  BASE_MODULE, BASE_VERSION, CONTROLS_MODULE, CONTROLS_VERSION, OUTPUT_MODULE, OUTPUT_VERSION, Widget,
  controlsHeader, liveParent, modelHeader, parentMsgId, type ChangeCallback, type WidgetState,
} from "./widget";

// -------------------------------------------------------------------------------------------------
// Layout and styles
// -------------------------------------------------------------------------------------------------

const LAYOUT_KEYS = [
  "align_content", "align_items", "align_self", "border_bottom", "border_left", "border_right", "border_top", "bottom",
  "display", "flex", "flex_flow", "grid_area", "grid_auto_columns", "grid_auto_flow", "grid_auto_rows", "grid_column",
  "grid_gap", "grid_row", "grid_template_areas", "grid_template_columns", "grid_template_rows", "height",
  "justify_content", "justify_items", "left", "margin", "max_height", "max_width", "min_height", "min_width",
  "object_fit", "object_position", "order", "overflow", "padding", "right", "top", "visibility", "width",
] as const;

/** CSS layout attributes of a widget (ipywidgets' Layout); each a CSS string, or null for the default. */
export type LayoutOptions = { [K in (typeof LAYOUT_KEYS)[number]]?: string | null } & {
  /** Shorthand for the four border_* attributes. */
  border?: string | null;
};

/** A widget's layout (LayoutModel of @jupyter-widgets/base 2.0.0). */
export class Layout extends Widget {
  constructor(options: LayoutOptions = {}) {
    const state: WidgetState = modelHeader([BASE_MODULE, BASE_VERSION, "LayoutModel"], [BASE_MODULE, BASE_VERSION, "LayoutView"]);
    for (const k of LAYOUT_KEYS) state[k] = null;
    const { border, ...rest } = options;
    if (border !== undefined) for (const side of ["border_bottom", "border_left", "border_right", "border_top"]) state[side] = border;
    for (const [k, v] of Object.entries(rest)) {
      if (!(LAYOUT_KEYS as readonly string[]).includes(k)) throw new Error(`Layout has no attribute "${k}"`);
      state[k] = v ?? null;
    }
    super(state);
  }

  protected override _reprFields(): [string, unknown][] {
    return Object.entries(this._state).filter(([k, v]) => !k.startsWith("_") && v !== null);
  }
}

/** Style attributes (description_width, handle_color, button_color, font_weight, ...). */
export type StyleOptions = Record<string, string | boolean | null | undefined>;

const STYLE_DEFAULTS: Record<string, WidgetState> = {
  DescriptionStyleModel: { description_width: "" },
  SliderStyleModel: { description_width: "", handle_color: null },
  CheckboxStyleModel: { background: null, description_width: "" },
  ToggleButtonsStyleModel: { button_width: "", description_width: "", font_weight: "" },
  ButtonStyleModel: {
    button_color: null, font_family: null, font_size: null, font_style: null, font_variant: null, font_weight: null,
    text_color: null, text_decoration: null,
  },
  TextStyleModel: { background: null, description_width: "", font_size: null, text_color: null },
  LabelStyleModel: {
    background: null, description_width: "", font_family: null, font_size: null, font_style: null, font_variant: null,
    font_weight: null, text_color: null, text_decoration: null,
  },
  HTMLStyleModel: { background: null, description_width: "", font_size: null, text_color: null },
};

/** A widget's style model (e.g. SliderStyleModel of @jupyter-widgets/controls, drawn by base's StyleView). */
export class Style extends Widget {
  constructor(modelName: keyof typeof STYLE_DEFAULTS | string, options: StyleOptions = {}) {
    const defaults = STYLE_DEFAULTS[modelName];
    if (!defaults) throw new Error(`unknown style model "${modelName}"`);
    const state: WidgetState = {
      ...modelHeader([CONTROLS_MODULE, CONTROLS_VERSION, modelName], [BASE_MODULE, BASE_VERSION, "StyleView"]),
      ...defaults,
    };
    for (const [k, v] of Object.entries(options)) {
      if (v === undefined) continue;
      if (!(k in defaults)) throw new Error(`${modelName} has no attribute "${k}"`);
      state[k] = v;
    }
    super(state);
  }

  protected override _reprFields(): [string, unknown][] {
    return [];
  }
}

// -------------------------------------------------------------------------------------------------
// DOM widgets, value widgets
// -------------------------------------------------------------------------------------------------

/** Options every drawn widget takes. */
export interface DOMWidgetOptions {
  /** A Layout, or its attributes. */
  layout?: Layout | LayoutOptions;
  /** Shorthand for layout.width (a CSS length, e.g. "300px"). */
  width?: string;
  /** Shorthand for layout.height. */
  height?: string;
  tooltip?: string | null;
  tabbable?: boolean | null;
}

/** Options of widgets with a description (label) and a style. */
export interface DescriptionOptions extends DOMWidgetOptions {
  /** The label next to the control. */
  description?: string;
  description_allow_html?: boolean;
  /** A Style, or its attributes (e.g. { description_width: "initial" }). */
  style?: Style | StyleOptions;
}

function pickLayout(options: DOMWidgetOptions, owned: Widget[]): Layout {
  if (options.layout instanceof Layout) return options.layout;
  const attrs: LayoutOptions = { ...(options.layout ?? {}) };
  if (options.width !== undefined) attrs.width = options.width;
  if (options.height !== undefined) attrs.height = options.height;
  const layout = new Layout(attrs);
  owned.push(layout);
  return layout;
}

function pickStyle(model: string, style: Style | StyleOptions | undefined, owned: Widget[]): Style {
  if (style instanceof Style) return style;
  const s = new Style(model, style ?? {});
  owned.push(s);
  return s;
}

/** The base of drawn widgets: `_dom_classes`, layout, tabbable, tooltip. */
export class DOMWidget extends Widget {
  constructor(header: WidgetState, state: WidgetState, options: DOMWidgetOptions & { style?: Style | StyleOptions }, styleModel?: string) {
    const owned: Widget[] = [];
    const full: WidgetState = { ...header, _dom_classes: [], layout: pickLayout(options, owned) };
    if (styleModel) full.style = pickStyle(styleModel, options.style, owned);
    Object.assign(full, { tabbable: options.tabbable ?? null, tooltip: options.tooltip ?? null }, state);
    super(full);
    this._owned.push(...owned);
  }

  /** The widget's Layout. */
  get layout(): Layout {
    return this.get<Layout>("layout");
  }

  /** The widget's style model (for widgets that have one). */
  get style(): Style | undefined {
    return this.get<Style | undefined>("style");
  }
}

function describedState(options: DescriptionOptions): WidgetState {
  return { description: options.description ?? "", description_allow_html: options.description_allow_html ?? false };
}

/** A widget with a value: `.value` reads and sets it (synced), `onChange(cb)` hears changes. */
export class ValueWidget<T> extends DOMWidget {
  /** The synced attribute that holds the value ("value"; "index" for selection widgets). */
  protected get _valueKey(): string {
    return "value";
  }

  /** The synced attribute's value as the user's value. */
  protected _toValue(raw: unknown): T {
    return raw as T;
  }

  /** The user's value as the synced attribute's value. */
  protected _fromValue(value: T): unknown {
    return value;
  }

  /** The current value. Setting it sends it to the frontend (and runs onChange callbacks). */
  get value(): T {
    return this._toValue(this._state[this._valueKey]);
  }

  set value(value: T) {
    this.set({ [this._valueKey]: this._fromValue(value) });
  }

  /** The description (label). */
  get description(): string {
    return String(this._state.description ?? "");
  }

  set description(text: string) {
    this.set({ description: text });
  }

  get disabled(): boolean {
    return Boolean(this._state.disabled);
  }

  set disabled(flag: boolean) {
    this.set({ disabled: flag });
  }

  /**
   * Call `cb(newValue, oldValue)` on each change of the value. For a change the user made in the
   * frontend, callbacks run one after another and are awaited (async ones too) before the kernel is idle
   * again, their output goes to the cell that made the widget (or the Output widget they capture into),
   * and what they throw is printed there; the kernel goes on. Returns a function that removes `cb`.
   */
  onChange(cb: ChangeCallback<T>): () => void {
    if (typeof cb !== "function") throw new TypeError("onChange() takes a function");
    return this._observe(this._valueKey, (value, old, origin) =>
      this._runUser("onChange callback", () => cb(this._toValue(value), this._toValue(old)), origin));
  }
}

// -------------------------------------------------------------------------------------------------
// Sliders
// -------------------------------------------------------------------------------------------------

export interface SliderOptions extends DescriptionOptions {
  value?: number;
  min?: number;
  max?: number;
  step?: number;
  /** Send the value while dragging (true) or only on release (false). */
  continuous_update?: boolean;
  disabled?: boolean;
  orientation?: "horizontal" | "vertical";
  readout?: boolean;
  /** The number format of the readout (d3-format, e.g. ".2f", ".3g", "d"). */
  readout_format?: string;
  behavior?: "drag-tap" | "drag-snap" | "tap" | "drag" | "snap";
}

function finite(name: string, v: unknown): number {
  if (typeof v !== "number" || !Number.isFinite(v)) throw new TypeError(`${name} must be a finite number (got ${String(v)})`);
  return v;
}

function sliderState(o: SliderOptions, d: { value: number; min: number; max: number; step: number; readout_format: string }): WidgetState {
  const min = finite("min", o.min ?? d.min);
  const max = finite("max", o.max ?? d.max);
  if (min > max) throw new RangeError(`min (${min}) is greater than max (${max})`);
  return {
    ...describedState(o),
    behavior: o.behavior ?? "drag-tap",
    continuous_update: o.continuous_update ?? true,
    disabled: o.disabled ?? false,
    max,
    min,
    orientation: o.orientation ?? "horizontal",
    readout: o.readout ?? true,
    readout_format: o.readout_format ?? d.readout_format,
    step: finite("step", o.step ?? d.step),
    value: finite("value", o.value ?? d.value),
  };
}

abstract class NumberSlider extends ValueWidget<number> {
  protected get _lower(): number {
    return this._state.min as number;
  }

  protected get _upper(): number {
    return this._state.max as number;
  }

  protected override _coerce(key: string, value: unknown): unknown {
    if (key === "value") {
      const v = finite("value", typeof value === "string" ? Number(value) : value);
      return Math.min(Math.max(v, this._lower), this._upper);
    }
    if (key === "min" || key === "max" || key === "step") return finite(key, value);
    return value;
  }

  get min(): number {
    return this._state.min as number;
  }

  set min(v: number) {
    this.set({ min: v });
    if (this.value < this._lower) this.value = this._lower;
  }

  get max(): number {
    return this._state.max as number;
  }

  set max(v: number) {
    this.set({ max: v });
    if (this.value > this._upper) this.value = this._upper;
  }

  get step(): number {
    return this._state.step as number;
  }

  set step(v: number) {
    this.set({ step: v });
  }

  protected override _reprFields(): [string, unknown][] {
    return [["value", this._state.value], ["min", this._state.min], ["max", this._state.max]];
  }
}

/** An integer slider (IntSliderModel). Defaults: value 0, min 0, max 100, step 1. */
export class IntSlider extends NumberSlider {
  constructor(options: SliderOptions = {}) {
    const state = sliderState(options, { value: 0, min: 0, max: 100, step: 1, readout_format: "d" });
    for (const k of ["value", "min", "max", "step"]) state[k] = Math.round(state[k] as number);
    state.value = Math.min(Math.max(state.value as number, state.min as number), state.max as number);
    super(controlsHeader("IntSliderModel", "IntSliderView"), state, options, "SliderStyleModel");
  }

  protected override _coerce(key: string, value: unknown): unknown {
    const v = super._coerce(key, value);
    return typeof v === "number" && ["value", "min", "max", "step"].includes(key) ? Math.round(v) : v;
  }
}

/** A float slider (FloatSliderModel). Defaults: value 0, min 0, max 100, step 0.1, readout ".2f". */
export class FloatSlider extends NumberSlider {
  constructor(options: SliderOptions = {}) {
    const state = sliderState(options, { value: 0, min: 0, max: 100, step: 0.1, readout_format: ".2f" });
    state.value = Math.min(Math.max(state.value as number, state.min as number), state.max as number);
    super(controlsHeader("FloatSliderModel", "FloatSliderView"), state, options, "SliderStyleModel");
  }
}

export interface LogSliderOptions extends SliderOptions {
  /** The base of the exponents (default 10). min, max and step are exponents: the value runs from base^min to base^max. */
  base?: number;
}

/**
 * A slider on a log scale (FloatLogSliderModel): `min`, `max` and `step` are exponents of `base`, the
 * value is base^exponent. Defaults: value 1, base 10, min 0, max 4, step 0.1, readout ".3g".
 */
export class FloatLogSlider extends NumberSlider {
  constructor(options: LogSliderOptions = {}) {
    const state = sliderState(options, { value: 1, min: 0, max: 4, step: 0.1, readout_format: ".3g" });
    const base = finite("base", options.base ?? 10);
    state.base = base;
    state.value = Math.min(Math.max(state.value as number, base ** (state.min as number)), base ** (state.max as number));
    super(controlsHeader("FloatLogSliderModel", "FloatLogSliderView"), state, options, "SliderStyleModel");
  }

  protected override get _lower(): number {
    return (this._state.base as number) ** (this._state.min as number);
  }

  protected override get _upper(): number {
    return (this._state.base as number) ** (this._state.max as number);
  }
}

/** A play/animation control (PlayModel): counts value from min to max every `interval` ms while playing. */
export interface PlayOptions extends DescriptionOptions {
  value?: number;
  min?: number;
  max?: number;
  step?: number;
  /** Milliseconds between steps (default 100). */
  interval?: number;
  playing?: boolean;
  repeat?: boolean;
  show_repeat?: boolean;
  disabled?: boolean;
}

export class Play extends NumberSlider {
  constructor(options: PlayOptions = {}) {
    const min = Math.round(finite("min", options.min ?? 0));
    const max = Math.round(finite("max", options.max ?? 100));
    const state: WidgetState = {
      ...describedState(options),
      disabled: options.disabled ?? false,
      interval: finite("interval", options.interval ?? 100),
      max,
      min,
      playing: options.playing ?? false,
      repeat: options.repeat ?? false,
      show_repeat: options.show_repeat ?? true,
      step: Math.round(finite("step", options.step ?? 1)),
      value: Math.min(Math.max(Math.round(finite("value", options.value ?? 0)), min), max),
    };
    super(controlsHeader("PlayModel", "PlayView"), state, options, "DescriptionStyleModel");
  }

  protected override _coerce(key: string, value: unknown): unknown {
    const v = super._coerce(key, value);
    return typeof v === "number" && ["value", "min", "max", "step"].includes(key) ? Math.round(v) : v;
  }

  get playing(): boolean {
    return Boolean(this._state.playing);
  }

  set playing(flag: boolean) {
    this.set({ playing: flag });
  }
}

// -------------------------------------------------------------------------------------------------
// Selection
// -------------------------------------------------------------------------------------------------

/** Options of a selection: values (shown as their text), [label, value] pairs, or {label: value}. */
export type SelectionOptions<T> = readonly (T | readonly [string, T])[] | Record<string, T>;

export interface SelectionWidgetOptions<T> extends DescriptionOptions {
  options: SelectionOptions<T>;
  /** The selected value (default the first option). */
  value?: T;
  /** The selected index (instead of value). */
  index?: number | null;
  disabled?: boolean;
}

function labelsAndValues<T>(options: SelectionOptions<T>): { labels: string[]; values: T[] } {
  const labels: string[] = [];
  const values: T[] = [];
  const entries: [string, T][] = Array.isArray(options)
    ? (options as readonly unknown[]).map((o) => (Array.isArray(o) && o.length === 2 && typeof o[0] === "string" ? [o[0], o[1] as T] : [String(o), o as T]))
    : Object.entries(options as Record<string, T>);
  for (const [label, value] of entries) {
    labels.push(label);
    values.push(value);
  }
  return { labels, values };
}

function selectionState<T>(o: SelectionWidgetOptions<T>): { state: WidgetState; values: T[] } {
  const { labels, values } = labelsAndValues(o.options);
  let index: number | null = values.length > 0 ? 0 : null;
  if (o.index !== undefined) index = o.index;
  else if (o.value !== undefined) {
    const at = values.findIndex((v) => v === o.value || JSON.stringify(v) === JSON.stringify(o.value));
    if (at < 0) throw new Error(`value ${JSON.stringify(o.value)} is not one of the options`);
    index = at;
  }
  if (index !== null && (!Number.isInteger(index) || index < 0 || index >= values.length)) throw new RangeError(`index ${index} is out of range`);
  return { state: { _options_labels: labels, ...describedState(o), disabled: o.disabled ?? false, index }, values };
}

/** A selection widget: synced by `index` (ipywidgets 8 syncs only the index and labels); `.value` is the option. */
export class Selection<T> extends ValueWidget<T> {
  private optionValues: T[];

  constructor(header: WidgetState, options: SelectionWidgetOptions<T>, extra: WidgetState, styleModel: string) {
    const { state, values } = selectionState(options);
    super(header, { ...state, ...extra }, options, styleModel);
    this.optionValues = values;
  }

  protected override get _valueKey(): string {
    return "index";
  }

  protected override _toValue(raw: unknown): T {
    return (typeof raw === "number" ? this.optionValues[raw] : undefined) as T;
  }

  protected override _fromValue(value: T): unknown {
    const at = this.optionValues.findIndex((v) => v === value || JSON.stringify(v) === JSON.stringify(value));
    if (at < 0) throw new Error(`${JSON.stringify(value)} is not one of the options`);
    return at;
  }

  protected override _coerce(key: string, value: unknown): unknown {
    if (key === "index" && value !== null) {
      if (typeof value !== "number" || !Number.isInteger(value) || value < 0 || value >= this.optionValues.length) throw new RangeError(`index ${String(value)} is out of range`);
    }
    return value;
  }

  /** The selected index (null: nothing selected). */
  get index(): number | null {
    return this._state.index as number | null;
  }

  set index(i: number | null) {
    this.set({ index: i });
  }

  /** The selected option's label. */
  get label(): string | undefined {
    const i = this._state.index;
    return typeof i === "number" ? (this._state._options_labels as string[])[i] : undefined;
  }

  /** The option values. */
  get options(): readonly T[] {
    return this.optionValues;
  }

  /** Replace the options (the selection goes to the first). */
  set options(options: SelectionOptions<T>) {
    const { labels, values } = labelsAndValues(options);
    this.optionValues = values;
    this.set({ _options_labels: labels, index: values.length > 0 ? 0 : null });
  }

  protected override _reprFields(): [string, unknown][] {
    return [["value", this.value], ["options", this._state._options_labels]];
  }
}

/** A drop-down list (DropdownModel). */
export class Dropdown<T = string> extends Selection<T> {
  constructor(options: SelectionWidgetOptions<T>) {
    super(controlsHeader("DropdownModel", "DropdownView"), options, {}, "DescriptionStyleModel");
  }
}

export interface ToggleButtonsOptions<T> extends SelectionWidgetOptions<T> {
  button_style?: "primary" | "success" | "info" | "warning" | "danger" | "";
  /** A tooltip per button. */
  tooltips?: string[];
  /** A Font Awesome icon name per button. */
  icons?: string[];
}

/** A row of buttons, one selected (ToggleButtonsModel). */
export class ToggleButtons<T = string> extends Selection<T> {
  constructor(options: ToggleButtonsOptions<T>) {
    super(
      controlsHeader("ToggleButtonsModel", "ToggleButtonsView"),
      options,
      { button_style: options.button_style ?? "", icons: options.icons ?? [], tooltips: options.tooltips ?? [] },
      "ToggleButtonsStyleModel",
    );
  }
}

// -------------------------------------------------------------------------------------------------
// Boolean, text, button
// -------------------------------------------------------------------------------------------------

export interface CheckboxOptions extends DescriptionOptions {
  value?: boolean;
  disabled?: boolean;
  /** Indent the checkbox to line up with other controls' descriptions (default true). */
  indent?: boolean;
}

/** A checkbox (CheckboxModel). */
export class Checkbox extends ValueWidget<boolean> {
  constructor(options: CheckboxOptions = {}) {
    super(
      controlsHeader("CheckboxModel", "CheckboxView"),
      { ...describedState(options), disabled: options.disabled ?? false, indent: options.indent ?? true, value: Boolean(options.value ?? false) },
      options,
      "CheckboxStyleModel",
    );
  }

  protected override _coerce(key: string, value: unknown): unknown {
    if (key === "value" && typeof value !== "boolean") throw new TypeError("a Checkbox's value is true or false");
    return value;
  }
}

export interface TextOptions extends DescriptionOptions {
  value?: string;
  placeholder?: string;
  continuous_update?: boolean;
  disabled?: boolean;
}

/** A one-line text field (TextModel). `onSubmit(cb)` hears Enter. */
export class Text extends ValueWidget<string> {
  private readonly submitCallbacks: ((value: string) => unknown)[] = [];

  constructor(options: TextOptions = {}) {
    super(
      controlsHeader("TextModel", "TextView"),
      {
        continuous_update: options.continuous_update ?? true,
        ...describedState(options),
        disabled: options.disabled ?? false,
        placeholder: options.placeholder ?? "\u200b",
        value: String(options.value ?? ""),
      },
      options,
      "TextStyleModel",
    );
  }

  protected override _coerce(key: string, value: unknown): unknown {
    if (key === "value" && typeof value !== "string") throw new TypeError("a Text's value is a string");
    return value;
  }

  /** Call `cb(value)` when the user presses Enter in the field. */
  onSubmit(cb: (value: string) => unknown): () => void {
    this.submitCallbacks.push(cb);
    return () => {
      const at = this.submitCallbacks.indexOf(cb);
      if (at >= 0) this.submitCallbacks.splice(at, 1);
    };
  }

  protected override async _onCustom(content: any): Promise<void> {
    if (content?.event !== "submit") return;
    for (const cb of [...this.submitCallbacks]) await this._runUser("onSubmit callback", () => cb(this.value), "frontend");
  }
}

export interface ButtonOptions extends DOMWidgetOptions {
  /** The button's label. */
  description?: string;
  button_style?: "primary" | "success" | "info" | "warning" | "danger" | "";
  /** A Font Awesome icon name, without "fa-". */
  icon?: string;
  disabled?: boolean;
  style?: Style | StyleOptions;
}

/** A button (ButtonModel). `onClick(cb)` hears clicks (the frontend's custom {event: "click"}). */
export class Button extends DOMWidget {
  private readonly clickCallbacks: ((button: Button) => unknown)[] = [];

  constructor(options: ButtonOptions = {}) {
    super(
      controlsHeader("ButtonModel", "ButtonView"),
      { button_style: options.button_style ?? "", description: options.description ?? "", disabled: options.disabled ?? false, icon: options.icon ?? "" },
      options,
      "ButtonStyleModel",
    );
  }

  get description(): string {
    return String(this._state.description ?? "");
  }

  set description(text: string) {
    this.set({ description: text });
  }

  get disabled(): boolean {
    return Boolean(this._state.disabled);
  }

  set disabled(flag: boolean) {
    this.set({ disabled: flag });
  }

  /**
   * Call `cb(button)` on each click. Callbacks are awaited one after another; their output goes to the
   * cell that made the button (or the Output they capture into); what they throw is printed there.
   */
  onClick(cb: (button: Button) => unknown): () => void {
    if (typeof cb !== "function") throw new TypeError("onClick() takes a function");
    this.clickCallbacks.push(cb);
    return () => {
      const at = this.clickCallbacks.indexOf(cb);
      if (at >= 0) this.clickCallbacks.splice(at, 1);
    };
  }

  /** Run the click callbacks as a click in the frontend would (from kernel code: where that code runs). */
  async click(): Promise<void> {
    await this.runClicks("kernel");
  }

  private async runClicks(origin: "kernel" | "frontend"): Promise<void> {
    for (const cb of [...this.clickCallbacks]) await this._runUser("onClick callback", () => cb(this), origin);
  }

  protected override async _onCustom(content: any): Promise<void> {
    if (content?.event === "click") await this.runClicks("frontend");
  }

  protected override _reprFields(): [string, unknown][] {
    return [];
  }
}

export interface LabelOptions extends DescriptionOptions {
  value?: string;
  placeholder?: string;
}

/** Plain text (LabelModel). */
export class Label extends ValueWidget<string> {
  constructor(options: LabelOptions | string = {}) {
    const o = typeof options === "string" ? { value: options } : options;
    super(controlsHeader("LabelModel", "LabelView"), { ...describedState(o), placeholder: o.placeholder ?? "\u200b", value: o.value ?? "" }, o, "LabelStyleModel");
  }
}

/** An HTML fragment (HTMLModel). */
export class HTML extends ValueWidget<string> {
  constructor(options: LabelOptions | string = {}) {
    const o = typeof options === "string" ? { value: options } : options;
    super(controlsHeader("HTMLModel", "HTMLView"), { ...describedState(o), placeholder: o.placeholder ?? "\u200b", value: o.value ?? "" }, o, "HTMLStyleModel");
  }

  override toString(): string {
    return String(this._state.value ?? "").replace(/<[^>]*>/g, "") || "HTML()";
  }
}

// -------------------------------------------------------------------------------------------------
// Boxes
// -------------------------------------------------------------------------------------------------

export interface BoxOptions extends DOMWidgetOptions {
  box_style?: "success" | "info" | "warning" | "danger" | "";
}

/** A box of widgets in a row (HBox) or a column (VBox). */
export class Box extends DOMWidget {
  constructor(header: WidgetState, children: readonly Widget[], options: BoxOptions) {
    for (const c of children) if (!(c instanceof Widget)) throw new TypeError("a box's children must be widgets");
    super(header, { box_style: options.box_style ?? "", children: [...children] }, options);
  }

  get children(): readonly Widget[] {
    return this.get<Widget[]>("children");
  }

  set children(children: readonly Widget[]) {
    this.set({ children: [...children] });
  }

  protected get _separator(): string {
    return "\n";
  }

  /** The children's text lines (an empty Output left out). */
  override toString(): string {
    return this.children
      .filter((c) => !(c instanceof Output && c.outputs.length === 0))
      .map((c) => c.toString())
      .join(this._separator);
  }
}

export class HBox extends Box {
  constructor(children: readonly Widget[] = [], options: BoxOptions = {}) {
    super(controlsHeader("HBoxModel", "HBoxView"), children, options);
  }

  protected override get _separator(): string {
    return "  ";
  }
}

export class VBox extends Box {
  constructor(children: readonly Widget[] = [], options: BoxOptions = {}) {
    super(controlsHeader("VBoxModel", "VBoxView"), children, options);
  }
}

// -------------------------------------------------------------------------------------------------
// Output
// -------------------------------------------------------------------------------------------------

/**
 * An area that shows output (OutputModel of @jupyter-widgets/output 1.0.0).
 *
 * `capture(fn)`: what fn prints or displays goes into the widget. As ipywidgets' `with out:`, the widget's
 * `msg_id` is set to the msg_id of the request being handled (the running cell, or in a widget callback
 * the frontend's comm message) and fn's output is parented to that request; the frontend routes messages
 * with that parent into the widget while `msg_id` is set. `append(...)` / `clear()` change the widget's
 * `outputs` from the kernel (as ipywidgets' append_stdout / append_display_data), which works at any time,
 * even after the cell has finished.
 */
export class Output extends DOMWidget {
  private captureDepth = 0;

  constructor(options: DOMWidgetOptions = {}) {
    super(modelHeader([OUTPUT_MODULE, OUTPUT_VERSION, "OutputModel"], [OUTPUT_MODULE, OUTPUT_VERSION, "OutputView"]), { msg_id: "", outputs: [] }, options);
  }

  protected override get _noEcho(): ReadonlySet<string> {
    return new Set(["outputs"]);
  }

  /** The parent msg_id whose output the frontend routes here now ("" when not capturing). */
  get msgId(): string {
    return String(this._state.msg_id ?? "");
  }

  /** The outputs the widget holds (nbformat outputs), as far as the kernel knows. */
  get outputs(): readonly Record<string, unknown>[] {
    return this.get<Record<string, unknown>[]>("outputs");
  }

  /**
   * Run fn with its output (console.log, lepton.display, errors it prints) going into this widget; an
   * async fn keeps capturing until its promise settles. Returns what fn returns. Without a kernel fn just
   * runs and its output goes where it would have gone.
   */
  capture<T>(fn: () => T): T {
    const parent = liveParent();
    const msgId = parentMsgId(parent);
    if (!msgId) return fn();
    const before = this.msgId;
    this.captureDepth++;
    // The msg_id updates go with the captured request too, in order with its output.
    runWithOutputParent(parent, () => this.set({ msg_id: msgId }));
    let settled = true;
    // Nested captures restore the msg_id the outer one set.
    const finish = () => {
      this.captureDepth--;
      runWithOutputParent(parent, () => this.set({ msg_id: this.captureDepth > 0 ? before : "" }));
    };
    try {
      const result = runWithOutputParent(parent, fn);
      if (result && typeof (result as any).then === "function") {
        settled = false;
        return (result as any).then(
          (v: unknown) => {
            finish();
            return v;
          },
          (err: unknown) => {
            finish();
            throw err;
          },
        ) as T;
      }
      return result;
    } finally {
      if (settled) finish();
    }
  }

  /**
   * Clear the widget: its `outputs` become [] (sent even when the kernel's copy is already empty, since the
   * frontend may hold captured outputs it has not synced back). No clear_output message is sent: a
   * frontend without widgets (`lepton run`) would clear the cell instead. `wait` is accepted for
   * IPython's signature; the clear is immediate.
   */
  clear(_options: { wait?: boolean } = {}): void {
    this._state.outputs = [];
    this._sendUpdate({ outputs: [] });
  }

  /** Add outputs from the kernel: a string as stdout text, any other value as its display (mime bundle). */
  append(...values: unknown[]): void {
    const added = values.map((v) =>
      typeof v === "string" ? { output_type: "stream", name: "stdout", text: v.endsWith("\n") ? v : v + "\n" } : displayOutput(toMimeBundle(v)));
    this.set({ outputs: [...this.outputs, ...added] });
  }

  /** Add stdout text. */
  appendStdout(text: string): void {
    this.set({ outputs: [...this.outputs, { output_type: "stream", name: "stdout", text }] });
  }

  /** Add stderr text. */
  appendStderr(text: string): void {
    this.set({ outputs: [...this.outputs, { output_type: "stream", name: "stderr", text }] });
  }

  override toString(): string {
    const texts = this.outputs.map((o) => (o.output_type === "stream" ? String(o.text ?? "").replace(/\n$/, "") : plainText((o.data as MimeBundle) ?? {})));
    return texts.length > 0 ? texts.join("\n") : "Output()";
  }
}

function displayOutput(bundle: MimeBundle): Record<string, unknown> {
  return { output_type: "display_data", data: bundle, metadata: {} };
}

