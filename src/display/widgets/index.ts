/**
 * lepton.widgets: Jupyter widgets (the ipywidgets 8 protocol, 2.1.0) for TypeScript notebooks, drawn by
 * JupyterLab's, Notebook 7's and VS Code's own widget managers. See ./widget.ts for the protocol and
 * where callbacks' output goes, ./controls.ts for the controls, ./interact.ts for interact.
 *
 *   const epochs = new lepton.widgets.IntSlider({ value: 3, min: 0, max: 10, description: "epochs" });
 *   epochs.onChange((v) => console.log("epochs is now", v));
 *   epochs        // shows the slider (text line `IntSlider(value=3, min=0, max=10) "epochs"` without a frontend)
 */
export {
  Widget, instances, allStates, PROTOCOL_VERSION, CONTROL_PROTOCOL_VERSION, VIEW_MIME, WIDGET_TARGET, CONTROL_TARGET,
  type WidgetState, type ChangeCallback,
} from "./widget";
export {
  Layout, Style, DOMWidget, ValueWidget, IntSlider, FloatSlider, FloatLogSlider, Play, Selection, Dropdown, ToggleButtons,
  Checkbox, Text, Button, Label, HTML, Box, HBox, VBox, Output,
  type LayoutOptions, type StyleOptions, type DOMWidgetOptions, type DescriptionOptions, type SliderOptions,
  type LogSliderOptions, type PlayOptions, type SelectionOptions, type SelectionWidgetOptions, type ToggleButtonsOptions,
  type CheckboxOptions, type TextOptions, type ButtonOptions, type LabelOptions, type BoxOptions,
} from "./controls";
export {
  interact, interactive, controlFor,
  type Interactive, type InteractOptions, type InteractSpec, type InteractAbbrev, type InteractValue, type InteractValues,
} from "./interact";
