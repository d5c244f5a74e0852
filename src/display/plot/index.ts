/**
 * lepton.plot: inline Plotly charts that draw offline in JupyterLab, classic Notebook, VS Code and
 * exported HTML, and update live during training. See library.ts for how plotly.js reaches the page.
 */
export { Figure, DEFAULT_CONFIG } from "./figure";
export { line, scatter, bar, histogram, heatmap, contour, surface, figure } from "./charts";
export type { Series, ScatterSeries, BarSeries, BarOptions, HistogramSeries, HistogramOptions, HeatmapOptions, GridData, ContourOptions, SurfaceOptions } from "./charts";
export { image, imageGrid } from "./images";
export type { ImageInput, PixelArray, ImageOptions, ImageGridOptions } from "./images";
export { subplots } from "./subplots";
export type { SubplotOptions } from "./subplots";
export { live, LiveFigure } from "./live";
export type { LiveOptions } from "./live";
export { activation, lossSurface, decisionBoundary, confusionMatrix } from "./teaching";
export type { ActivationName, ActivationOptions, LossSurfaceOptions, Classifier, DecisionBoundaryOptions, ConfusionMatrixOptions } from "./teaching";
export { includeLibrary, libraryBundle, plotlyLibrary, setLibraryMode, libraryMode, LIBRARY_MODES } from "./library";
export type { LibraryMode } from "./library";
export { PLOTLY_MIME } from "./render";
export { normalizeFigure } from "./normalize";
export type { Trace, Layout, Config, Frame, FigureJSON, Numbers, Values, Matrix, AxisOptions, ChartOptions } from "./types";
