/** FLOP counting and the SIMD peak behind `npm run bench` and `lepton doctor`'s training speed line. */
import { describe, expect, it } from "vitest";
import * as tf from "@tensorflow/tfjs";
import { lenet, resnet9 } from "../src/models";
import { forwardMacsPerSample, simdPeak, trainingFlopsPerSample } from "../src/backend/perf";

describe("FLOPs counted from the model", () => {
  it("LeNet: conv 5x5 3->6 on 28x28, conv 5x5 6->16 on 10x10, dense 400-120-84-10", () => {
    const model = lenet();
    const macs = 28 * 28 * 6 * 5 * 5 * 3 + 10 * 10 * 16 * 5 * 5 * 6 + 400 * 120 + 120 * 84 + 84 * 10;
    expect(forwardMacsPerSample(model)).toBe(macs);
    expect(trainingFlopsPerSample(model)).toBe(6 * macs);
    model.dispose();
  });

  it("ResNet-9: every 3x3 'same' conv at its resolution, the dense logits; nothing for BN, pools, adds", () => {
    for (const w of [16, 5]) {
      const model = resnet9({ width: w });
      const conv = (hw: number, cin: number, cout: number) => hw * hw * 9 * cin * cout;
      const macs =
        conv(32, 3, w) + conv(32, w, 2 * w) + 2 * conv(16, 2 * w, 2 * w) + conv(16, 2 * w, 4 * w) + conv(8, 4 * w, 8 * w) + 2 * conv(4, 8 * w, 8 * w) + 8 * w * 10;
      expect(forwardMacsPerSample(model)).toBe(macs);
      model.dispose();
    }
  });

  it("depthwise convolutions count one input channel per filter", () => {
    const model = tf.sequential();
    model.add(tf.layers.depthwiseConv2d({ inputShape: [9, 7, 4], kernelSize: 3, depthMultiplier: 2, strides: 2 }));
    // 'valid', stride 2: 4 x 3 positions, 4 x 2 output channels, 9 taps each.
    expect(forwardMacsPerSample(model)).toBe(4 * 3 * 8 * 9);
    model.dispose();
  });
});

describe("WebAssembly SIMD peak", () => {
  it("is cores x GHz x 2 x 4 x 2 from the clock it reports", () => {
    const peak = simdPeak(3);
    expect(peak.cores).toBe(3);
    expect(peak.ghz).toBeGreaterThan(0);
    expect(peak.gflops).toBeCloseTo(3 * peak.ghz * 16, 6);
    expect(peak.formula).toMatch(/^3 cores x [\d.]+ GHz x 2 FMA pipes x 4 lanes x 2 flops = [\d.]+ GFLOP\/s$/);
  });
});
