import { describe, expect, it, vi } from 'vitest';

import { alignSeries, bandsOf, canPlot, drawBands, plotOptions, yRange, type TrendSeries } from './TrendPlot';

const sys: TrendSeries = { label: 'Systolic', color: '#000', points: [{ t: 1000, v: 120 }, { t: 3000, v: 150 }], band: { low: 90, high: 139 } };
const dia: TrendSeries = { label: 'Diastolic', color: '#111', points: [{ t: 1000, v: 80 }, { t: 2000, v: 70 }], band: { low: 60, high: 89 } };

describe('TrendPlot helpers', () => {
  it('aligns series on one time axis in seconds, with gaps as null', () => {
    expect(alignSeries([sys, dia])).toEqual([
      [1, 2, 3],
      [120, null, 150],
      [80, 70, null],
    ]);
  });

  it('covers the data and the normal bands in the y range', () => {
    const [low, high] = yRange([sys, dia]);
    expect(low).toBeLessThan(60);
    expect(high).toBeGreaterThan(150);
  });

  it('shades each normal band across the plot area, clipped to it', () => {
    const fills: Array<[string, number[]]> = [];
    const ctx = {
      fillStyle: '',
      save: vi.fn(),
      restore: vi.fn(),
      fillRect(...args: number[]) {
        fills.push([this.fillStyle, args]);
      },
    };
    // y scale: value v at canvas pixel 400 - 2v; plot area from y=20 to y=320.
    const u = { ctx, bbox: { left: 50, top: 20, width: 600, height: 300 }, valToPos: (v: number) => 400 - 2 * v };
    drawBands(bandsOf([sys, dia]))(u as never);
    expect(fills).toHaveLength(2);
    expect(fills[0]![1]).toEqual([50, 400 - 2 * 139, 600, 2 * (139 - 90)]);
    // Diastolic band 60..89 -> 222..280 px.
    expect(fills[1]![1]).toEqual([50, 222, 600, 58]);
    expect(fills[0]![0]).not.toBe(fills[1]![0]);
    expect(ctx.save).toHaveBeenCalled();
    expect(ctx.restore).toHaveBeenCalled();
  });

  it('builds uPlot options with the band hook, one series per line and the given size', () => {
    const opts = plotOptions({ testId: 'x', title: 'Blood pressure', unit: 'mm[Hg]', series: [sys, dia] }, 640, 200);
    expect(opts.width).toBe(640);
    expect(opts.height).toBe(200);
    expect(opts.series.map((s) => s.label)).toEqual(['Time', 'Systolic', 'Diastolic']);
    expect(opts.hooks?.drawClear).toHaveLength(1);
    expect(opts.axes?.[1]?.label).toBe('mmHg');
  });

  it('does not try to draw where there is no canvas engine (jsdom)', () => {
    expect(canPlot()).toBe(false);
  });
});
