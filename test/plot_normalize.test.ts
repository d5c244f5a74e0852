/**
 * normalizeFigure: the Plotly JSON lepton emits must draw the same in plotly.js 2.35, 3.x and 4.x
 * (test/browser-plotly-versions.test.ts draws it in all three). These tests pin each rewrite.
 */
import { afterEach, describe, expect, it } from "vitest";
import { setDisplaySink, toMimeBundle, type MimeBundle } from "../src/display/display";
import * as plot from "../src/display/plot";
import { normalizeColor, normalizeFigure } from "../src/display/plot/normalize";
import { resetLibrarySession } from "../src/display/plot/library";
import type { FigureJSON } from "../src/display/plot/types";
import { OLD_STYLE_FIGURES } from "./fixtures/plot/old_style";

const fig = (data: any[], layout: any = {}, config: any = {}, frames?: any[]): FigureJSON => ({ data, layout, config, ...(frames ? { frames } : {}) });

afterEach(() => setDisplaySink(undefined));

describe("normalizeFigure: titles", () => {
  it("turns string titles into { text } on the layout, every axis, scenes, polar, ternary, legends and colour bars", () => {
    const out = normalizeFigure(fig(
      [
        { type: "heatmap", z: [[1]], colorbar: { title: "cb", titleside: "right", titlefont: { size: 9 } } },
        { type: "scatter", x: [1], y: [1], marker: { color: [1], colorbar: { title: "mcb" } } },
        { type: "pie", values: [1], title: "pie", titlefont: { color: "red" }, titleposition: "top center" },
        { type: "carpet", a: [1], b: [1], y: [1], aaxis: { title: "a", titleoffset: 5 } },
      ],
      {
        title: "Main", titlefont: { size: 20 },
        xaxis: { title: "x", titlefont: { color: "blue" } }, yaxis: { title: { text: "y" } },
        xaxis2: { title: "x2" }, yaxis13: { title: "y13" },
        scene: { xaxis: { title: "sx" }, yaxis: { title: "sy" }, zaxis: { title: "sz" } },
        scene2: { zaxis: { title: "sz2" } },
        polar: { radialaxis: { title: "r" } }, ternary: { aaxis: { title: "ta" } },
        legend: { title: "legend" }, legend2: { title: "legend2" },
        coloraxis: { colorbar: { title: "ca", titleside: "top" } },
      },
    ));
    expect(out.layout.title).toEqual({ text: "Main", font: { size: 20 } });
    expect(out.layout.titlefont).toBeUndefined();
    expect(out.layout.xaxis).toEqual({ title: { text: "x", font: { color: "blue" } } });
    expect(out.layout.yaxis).toEqual({ title: { text: "y" } });
    expect(out.layout.xaxis2).toEqual({ title: { text: "x2" } });
    expect(out.layout.yaxis13).toEqual({ title: { text: "y13" } });
    expect(out.layout.scene).toEqual({ xaxis: { title: { text: "sx" } }, yaxis: { title: { text: "sy" } }, zaxis: { title: { text: "sz" } } });
    expect((out.layout.scene2 as any).zaxis.title).toEqual({ text: "sz2" });
    expect((out.layout.polar as any).radialaxis.title).toEqual({ text: "r" });
    expect((out.layout.ternary as any).aaxis.title).toEqual({ text: "ta" });
    expect((out.layout.legend as any).title).toEqual({ text: "legend" });
    expect((out.layout.legend2 as any).title).toEqual({ text: "legend2" });
    expect((out.layout.coloraxis as any).colorbar).toEqual({ title: { text: "ca", side: "top" } });
    expect(out.data[0].colorbar).toEqual({ title: { text: "cb", side: "right", font: { size: 9 } } });
    expect((out.data[1].marker as any).colorbar).toEqual({ title: { text: "mcb" } });
    expect(out.data[2]).toEqual({ type: "pie", values: [1], title: { text: "pie", font: { color: "red" }, position: "top center" } });
    expect((out.data[3].aaxis as any).title).toEqual({ text: "a", offset: 5 });
  });

  it("keeps a title object's own font over the old titlefont, and leaves non-title text alone", () => {
    const out = normalizeFigure(fig([{ type: "scatter", x: [1], y: [1], text: ["title"], name: "title" }],
      { title: { text: "T", font: { size: 30 } }, titlefont: { size: 10, color: "red" }, annotations: [{ text: "title", x: 0, y: 0 }] }));
    expect(out.layout.title).toEqual({ text: "T", font: { size: 30, color: "red" } });
    expect(out.layout.annotations).toEqual([{ text: "title", x: 0, y: 0 }]);
    expect(out.data[0]).toEqual({ type: "scatter", x: [1], y: [1], text: ["title"], name: "title" });
  });

  it("rewrites titles in frames, templates, and in the layout updates of slider steps and update-menu buttons", () => {
    const out = normalizeFigure(fig(
      [{ type: "scatter", x: [1], y: [1] }],
      {
        template: { layout: { title: "tpl", xaxis: { title: "tx" } }, data: { heatmapgl: [{ colorbar: { title: "tc" } }] } },
        updatemenus: [{ bgcolor: "ff0000", buttons: [
          { method: "relayout", args: [{ title: "r", "xaxis.title": "rx", "yaxis.titlefont": { size: 3 } }], label: "a" },
          { method: "update", args: [{ visible: [true] }, { title: "u" }], label: "b" },
          { method: "restyle", args: [{ type: "heatmapgl" }], label: "c" },
        ] }],
        sliders: [{ steps: [{ method: "animate", args: [["f0"]], label: "0" }, { method: "relayout", args: ["title", "plain"], label: "1" }] }],
      },
      {},
      [{ name: "f0", data: [{ type: "pointcloud", x: [1], y: [2] }], layout: { title: "frame", xaxis: { title: "fx" } } }],
    ));
    const l = out.layout as any;
    expect(l.template.layout).toEqual({ title: { text: "tpl" }, xaxis: { title: { text: "tx" } } });
    expect(l.template.data).toEqual({ heatmap: [{ colorbar: { title: { text: "tc" } } }] });
    expect(l.updatemenus[0].bgcolor).toBe("#ff0000");
    expect(l.updatemenus[0].buttons[0].args).toEqual([{ title: { text: "r" }, "xaxis.title.text": "rx", "yaxis.title.font": { size: 3 } }]);
    expect(l.updatemenus[0].buttons[1].args).toEqual([{ visible: [true] }, { title: { text: "u" } }]);
    expect(l.updatemenus[0].buttons[2].args).toEqual([{ type: "heatmap" }]);
    expect(l.sliders[0].steps[0].args).toEqual([["f0"]]);
    expect(l.sliders[0].steps[1].args).toEqual(["title", { text: "plain" }]);
    expect(out.frames![0].data[0]).toMatchObject({ type: "scattergl", mode: "markers", x: [1], y: [2] });
    expect(out.frames![0].layout).toEqual({ title: { text: "frame" }, xaxis: { title: { text: "fx" } } });
  });
});

describe("normalizeFigure: removed traces, subplots and config", () => {
  it("heatmapgl → heatmap, pointcloud → scattergl (xy split), mapbox → map", () => {
    const out = normalizeFigure(fig(
      [
        { type: "heatmapgl", z: [[1, 2]], colorscale: "Viridis" },
        { type: "pointcloud", xy: [1, 2, 3, 4], indices: [0, 1], marker: { color: "red", sizemin: 2, sizemax: 8, blend: true } },
        { type: "scattermapbox", lat: [1], lon: [2], subplot: "mapbox2" },
        { type: "choroplethmapbox", locations: ["a"], z: [1], geojson: {} },
        { type: "densitymapbox", lat: [1], lon: [2] },
      ],
      { mapbox: { style: "open-street-map", accesstoken: "pk.x", zoom: 3 }, mapbox2: { style: "carto-positron" } },
      { mapboxAccessToken: "pk.y", showLink: true, linkText: "edit", sendData: true, showSources: true, showEditInChartStudio: true, responsive: true },
    ));
    expect(out.data.map((t) => t.type)).toEqual(["heatmap", "scattergl", "scattermap", "choroplethmap", "densitymap"]);
    expect(out.data[1]).toEqual({ type: "scattergl", mode: "markers", x: [1, 3], y: [2, 4], marker: { color: "red", size: 3 } });
    expect(out.data[2].subplot).toBe("map2");
    expect(out.layout).toEqual({ map: { style: "open-street-map", zoom: 3 }, map2: { style: "carto-positron" } });
    expect(out.config).toEqual({ responsive: true });
  });

  it("refuses a Mapbox-hosted style with a message that names the MapLibre styles", () => {
    expect(() => normalizeFigure(fig([{ type: "scattermapbox", lat: [1], lon: [1] }], { mapbox: { style: "mapbox://styles/me/abc" } })))
      .toThrow(/layout\.mapbox\.style uses a Mapbox-hosted style .*open-street-map/);
  });

  it("drops Chart Studio *src references wherever they are", () => {
    const out = normalizeFigure(fig([{ type: "scatter", x: [1], y: [1], xsrc: "me:1:abc", marker: { colorsrc: "me:1:def", color: "red" } }], { xaxis: { tickvalssrc: "me:2" } }));
    expect(out.data[0]).toEqual({ type: "scatter", x: [1], y: [1], marker: { color: "red" } });
    expect(out.layout).toEqual({ xaxis: {} });
  });
});

describe("normalizeFigure: colours", () => {
  it("adds # to bare hex, converts hsv() to rgb(), rounds fractional rgb() channels, keeps valid colours as they are", () => {
    expect(normalizeColor("ff0000")).toBe("#ff0000");
    expect(normalizeColor("0f0")).toBe("#0f0");
    expect(normalizeColor("#12345678")).toBe("#12345678");
    expect(normalizeColor("hsv(0, 100%, 100%)")).toBe("rgb(255, 0, 0)");
    expect(normalizeColor("hsv(120,1,0.5)")).toBe("rgb(0, 128, 0)");
    expect(normalizeColor("hsva(240, 100%, 100%, 0.5)")).toBe("rgba(0, 0, 255, 0.5)");
    expect(normalizeColor("rgb(10.4, 20.6, 300)")).toBe("rgb(10, 21, 255)");
    expect(normalizeColor("rgba(10.5,0,0,0.25)")).toBe("rgba(11, 0, 0, 0.25)");
    for (const ok of ["rgb(1,2,3)", "rgba(1, 2, 3, 0.5)", "hsl(10, 50%, 50%)", "hsla(10,50%,50%,0.1)", "red", "Transparent", "rebeccapurple", "#abc"]) {
      expect(normalizeColor(ok)).toBe(ok);
    }
  });

  it("rewrites colours in every colour attribute, colour lists, colorway and colour scales", () => {
    const out = normalizeFigure(fig(
      [{ type: "bar", x: [1, 2], y: [1, 2], marker: { color: ["ff0000", "hsv(0,0%,100%)"], line: { color: "00ff00" } }, colorscale: [[0, "000"], [1, "hsv(0,100%,100%)"]] },
       { type: "pie", values: [1], marker: { colors: ["abcdef"] } },
       { type: "scatter", x: [1], y: [1], marker: { color: [0.5], colorscale: "Viridis" } }],
      { paper_bgcolor: "fff", colorway: ["111111"], colorscale: { sequential: [[0, "000000"], [1, "ffffff"]] }, xaxis: { gridcolor: "rgb(1.5,2,3)" } },
    ));
    expect(out.data[0].marker).toEqual({ color: ["#ff0000", "rgb(255, 255, 255)"], line: { color: "#00ff00" } });
    expect(out.data[0].colorscale).toEqual([[0, "#000"], [1, "rgb(255, 0, 0)"]]);
    expect(out.data[1].marker).toEqual({ colors: ["#abcdef"] });
    expect(out.data[2].marker).toEqual({ color: [0.5], colorscale: "Viridis" });
    expect(out.layout).toEqual({ paper_bgcolor: "#fff", colorway: ["#111111"], colorscale: { sequential: [[0, "#000000"], [1, "#ffffff"]] }, xaxis: { gridcolor: "rgb(2, 2, 3)" } });
  });

  it("refuses a string that is no colour, saying where it is and what is accepted", () => {
    expect(() => normalizeFigure(fig([{ type: "scatter", x: [1], y: [1], line: { color: "blurple" } }])))
      .toThrow('lepton.plot: data[0].line.color is "blurple", which is not a colour plotly.js can draw; use a CSS colour name ("red"), #rrggbb');
    expect(() => normalizeFigure(fig([], { xaxis: { linecolor: "rgb(1,2)" } }))).toThrow(/layout\.xaxis\.linecolor is "rgb\(1,2\)"/);
  });
});

describe("normalizeFigure: what lepton emits", () => {
  it("never changes the figure it is given, and is idempotent", () => {
    for (const [name, raw] of Object.entries(OLD_STYLE_FIGURES)) {
      const before = JSON.stringify(raw);
      const once = normalizeFigure(raw);
      expect(JSON.stringify(raw), name).toBe(before);
      expect(normalizeFigure(once), name).toEqual(once);
    }
  });

  it("normalises a raw plot.figure, the layout option of a builder and live.relayout, in the JSON and in the chart HTML", () => {
    const bundles: MimeBundle[] = [];
    setDisplaySink({ display: (b) => bundles.push(b), update: (b) => bundles.push(b) });
    resetLibrarySession();
    const raw = plot.figure([{ type: "heatmapgl", z: [[1, 2], [3, 4]], colorbar: { title: "c", titleside: "right" } }], { title: "Raw", xaxis: { title: "x" } }, { showLink: true });
    const fromBuilder = plot.line({ y: [1, 2] }, { layout: { yaxis: { title: "from layout", titlefont: { size: 11 } }, plot_bgcolor: "eeeeee" } });
    const live = plot.live(plot.line({ y: [1] }), { maxUpdatesPerSecond: 1e6 });
    live.relayout({ title: "epoch 3", xaxis2: { title: "x2" } });
    live.flush();
    const check = (bundle: MimeBundle) => {
      const json = bundle[plot.PLOTLY_MIME] as FigureJSON;
      const literal = JSON.parse((bundle["text/html"] as string).match(/var figure = (.*);\n/)![1]);
      expect(literal).toEqual(json);
      return json;
    };
    const r = check(toMimeBundle(raw));
    expect(r.data[0]).toMatchObject({ type: "heatmap", colorbar: { title: { text: "c", side: "right" } } });
    expect(r.layout).toEqual({ title: { text: "Raw" }, xaxis: { title: { text: "x" } } });
    expect(r.config.showLink).toBeUndefined();
    const b = check(toMimeBundle(fromBuilder));
    expect(b.layout).toMatchObject({ yaxis: { title: { text: "from layout", font: { size: 11 } } }, plot_bgcolor: "#eeeeee" });
    const last = check(bundles[bundles.length - 1]);
    expect(last.layout).toMatchObject({ title: { text: "epoch 3" }, xaxis2: { title: { text: "x2" } } });
    // The standalone page too.
    const page = raw.toHTML();
    expect(JSON.parse(page.match(/var figure = (.*);\n/)![1]).data[0].type).toBe("heatmap");
    // The figure object itself keeps what the user gave.
    expect(raw.data[0].type).toBe("heatmapgl");
  });

  it("leaves the JSON of lepton's own builders as they made it (they already emit the new form)", () => {
    const figs = [
      plot.line({ y: [1, 2], color: "#ff0000" }, { title: "t", xaxis: "x" }),
      plot.confusionMatrix([[1, 2], [3, 4]]),
      plot.lossSurface((w, b) => w * w + b * b, { w: [-1, 1], b: [-1, 1] }, [[0.5, 0.5], [0, 0]]),
      plot.subplots([plot.line({ y: [1] }, { title: "a" }), plot.heatmap([[1]])]),
    ];
    for (const f of figs) expect(normalizeFigure(f.toJSON())).toEqual(f.toJSON());
  });
});
