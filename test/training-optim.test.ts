/**
 * Optimizers and schedules: Adam's first step by hand, Adam (L2) vs AdamW (decoupled decay),
 * lazy row updates, state round trip, and the warmup + linear / cosine schedule values.
 */
import { describe, expect, it } from 'vitest';
import { Adam, learningRate } from '../lib/training/optim';
import type { Param } from '../lib/training/student';

function param(data: number[], grad: number[], extra: Partial<Param> = {}): Param {
  return { name: 'w', data: Float32Array.from(data), grad: Float32Array.from(grad), shape: [data.length], ...extra };
}

describe('Adam / AdamW', () => {
  it('first step moves every weight by lr·sign(g) (bias-corrected)', () => {
    const p = param([1, -2, 0.5], [0.3, -4, 1e-3]);
    new Adam({ name: 'Adam' }).step([p], 0.1);
    expect(Array.from(p.data).map((x) => +x.toFixed(5))).toEqual([0.9, -1.9, 0.4]);
  });

  it('Adam adds wd·θ to the gradient; AdamW decays θ by lr·wd outside the moments', () => {
    const a = param([2], [0]);
    new Adam({ name: 'Adam', weightDecay: 0.5 }).step([a], 0.1);
    expect(a.data[0]).toBeCloseTo(1.9, 5); // g = 1 → m̂/√v̂ = 1
    const w = param([2], [0]);
    new Adam({ name: 'AdamW', weightDecay: 0.5 }).step([w], 0.1);
    expect(w.data[0]).toBeCloseTo(2 - 0.1 * 0.5 * 2, 6); // gradient 0 → only the decay
    const nd = param([2], [0], { decay: false });
    new Adam({ name: 'AdamW', weightDecay: 0.5 }).step([nd], 0.1);
    expect(nd.data[0]).toBe(2);
  });

  it('updates only the listed rows (lazy Adam) and round-trips its state', () => {
    const p = param([1, 1, 2, 2, 3, 3], [1, 1, 1, 1, 1, 1], { shape: [3, 2], rows: Int32Array.of(2, 0) });
    const opt = new Adam({ name: 'AdamW', weightDecay: 0.1 });
    opt.step([p], 0.01);
    expect(p.data[2]).toBe(2);
    expect(p.data[3]).toBe(2);
    expect(p.data[0]).not.toBe(1);
    expect(p.data[4]).not.toBe(3);
    const copy = new Adam({ name: 'AdamW', weightDecay: 0.1 });
    copy.load(opt.state());
    const p2 = { ...p, data: p.data.slice() };
    opt.step([p], 0.01);
    copy.step([p2], 0.01);
    expect(Array.from(p2.data)).toEqual(Array.from(p.data));
    expect(() => new Adam({ name: 'Adam' }).load(opt.state())).toThrow(/AdamW/);
  });

  it('is deterministic', () => {
    const run = (): number[] => {
      const p = param([0.1, 0.2, 0.3], [0, 0, 0]);
      const opt = new Adam({ name: 'AdamW', weightDecay: 0.01 });
      for (let s = 0; s < 50; s++) {
        for (let i = 0; i < 3; i++) p.grad[i] = Math.sin(s + i) * p.data[i] + 0.1;
        opt.step([p], 0.01);
      }
      return Array.from(p.data);
    };
    expect(run()).toEqual(run());
  });
});

describe('learning-rate schedule', () => {
  it('warms up linearly then decays linearly to ~0', () => {
    const lrs = Array.from({ length: 10 }, (_, s) => learningRate(1, s, 10, { warmup: 2, decay: 'linear' }));
    expect(lrs[0]).toBeCloseTo(0.5);
    expect(lrs[1]).toBeCloseTo(1);
    expect(lrs[2]).toBeCloseTo(1);
    expect(lrs[6]).toBeCloseTo(0.5);
    expect(lrs[9]).toBeCloseTo(0.125);
  });
  it('cosine decay and fractional warmup', () => {
    expect(learningRate(2, 0, 10, 'cosine')).toBeCloseTo(2);
    expect(learningRate(2, 5, 10, 'cosine')).toBeCloseTo(1);
    expect(learningRate(2, 0, 100, { warmup: 0.1, decay: 'cosine' })).toBeCloseTo(0.2);
    expect(learningRate(2, 10, 100, { warmup: 0.1, decay: 'cosine' })).toBeCloseTo(2);
    expect(learningRate(2, 7, 10, 'constant')).toBe(2);
  });
});
