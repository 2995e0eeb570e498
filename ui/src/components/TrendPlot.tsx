import { useEffect, useRef, useState } from 'react';
import type uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

import { formatFullDateTime, formatNumber, formatUnit } from '../format';

export interface TrendPoint {
  /** Milliseconds since the epoch. */
  t: number;
  v: number;
}

export interface TrendSeries {
  label: string;
  points: TrendPoint[];
  /** Stroke colour (each plot also has a legend with the label in words). */
  color: string;
  /** Normal band, shaded behind the line. */
  band?: { low: number; high: number } | null;
}

export interface Band {
  low: number;
  high: number;
  fill: string;
}

interface Props {
  testId: string;
  title: string;
  unit: string;
  series: TrendSeries[];
}

/** Light fills for the normal bands (the line colours stay AA on white). */
const BAND_FILLS = ['rgba(15, 124, 116, 0.14)', 'rgba(29, 78, 216, 0.10)'];

/**
 * A uPlot hook that shades each normal band across the plotting area, drawn
 * right after the canvas is cleared so the lines go on top of it.
 */
export function drawBands(bands: Band[]) {
  return (u: Pick<uPlot, 'ctx' | 'bbox' | 'valToPos'>) => {
    const { ctx, bbox } = u;
    ctx.save();
    for (const band of bands) {
      const top = u.valToPos(band.high, 'y', true);
      const bottom = u.valToPos(band.low, 'y', true);
      const y = Math.max(bbox.top, Math.min(top, bottom));
      const end = Math.min(bbox.top + bbox.height, Math.max(top, bottom));
      if (end <= y) continue;
      ctx.fillStyle = band.fill;
      ctx.fillRect(bbox.left, y, bbox.width, end - y);
    }
    ctx.restore();
  };
}

/** uPlot's data: one x array (seconds) and one y array per series, aligned. */
export function alignSeries(series: TrendSeries[]): uPlot.AlignedData {
  const times = [...new Set(series.flatMap((s) => s.points.map((p) => p.t)))].sort((a, b) => a - b);
  const index = new Map(times.map((t, i) => [t, i]));
  const ys = series.map((s) => {
    const y: Array<number | null> = times.map(() => null);
    for (const p of s.points) y[index.get(p.t)!] = p.v;
    return y;
  });
  return [times.map((t) => t / 1000), ...ys];
}

export function bandsOf(series: TrendSeries[]): Band[] {
  return series.flatMap((s, i) => (s.band ? [{ ...s.band, fill: BAND_FILLS[i % BAND_FILLS.length]! }] : []));
}

/** The y range: the data and the normal bands, with a little room. */
export function yRange(series: TrendSeries[]): [number, number] {
  const values = series.flatMap((s) => [
    ...s.points.map((p) => p.v),
    ...(s.band ? [s.band.low, s.band.high] : []),
  ]);
  if (values.length === 0) return [0, 1];
  const min = Math.min(...values);
  const max = Math.max(...values);
  const pad = Math.max((max - min) * 0.1, Math.abs(max) * 0.02, 0.5);
  return [min - pad, max + pad];
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** Time-axis ticks in 24-hour time, with the day at midnight: "06:00", "29 Nov". */
export function timeTick(seconds: number): string {
  const d = new Date(seconds * 1000);
  if (d.getHours() === 0 && d.getMinutes() === 0) return `${d.getDate()} ${MONTHS[d.getMonth()]}`;
  return `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`;
}

export function plotOptions(props: Props, width: number, height: number, rem = 14): uPlot.Options {
  const bands = bandsOf(props.series);
  const range = yRange(props.series);
  const unit = formatUnit(props.unit);
  return {
    width,
    height,
    scales: { x: { time: true }, y: { range: () => range } },
    series: [
      { label: 'Time', value: (_u, v) => (v === null ? '—' : formatFullDateTime(new Date(v * 1000).toISOString())) },
      ...props.series.map((s) => ({
        label: s.label,
        stroke: s.color,
        width: 2,
        spanGaps: true,
        points: { show: true, size: 5 },
        value: (_u: uPlot, v: number | null) => (v === null ? '—' : `${formatNumber(v)} ${unit}`),
      })),
    ],
    // Axis text follows the fluid root size, so it stays readable on 4K screens.
    axes: [
      { values: (_u, splits) => splits.map(timeTick), space: Math.round(rem * 5), font: `${Math.round(rem * 0.85)}px system-ui, sans-serif`, size: Math.round(rem * 3) },
      {
        label: unit,
        space: Math.round(rem * 2.2),
        font: `${Math.round(rem * 0.85)}px system-ui, sans-serif`,
        labelFont: `bold ${Math.round(rem * 0.85)}px system-ui, sans-serif`,
        size: Math.round(rem * 4),
      },
    ],
    hooks: { drawClear: [drawBands(bands)] },
    legend: { show: true },
    cursor: { drag: { x: false, y: false } },
  };
}

/** True where uPlot can draw (a real browser engine; not jsdom). */
export function canPlot(): boolean {
  return (
    typeof window !== 'undefined' &&
    typeof window.ResizeObserver === 'function' &&
    typeof window.matchMedia === 'function' &&
    typeof HTMLCanvasElement !== 'undefined' &&
    document.createElement('canvas').getContext('2d') !== null
  );
}

function summary(props: Props): string {
  const unit = formatUnit(props.unit);
  return props.series
    .map((s) => {
      const last = s.points[s.points.length - 1];
      if (!last) return `${s.label}: no values`;
      const values = s.points.map((p) => p.v);
      return `${s.label}: latest ${formatNumber(last.v)} ${unit}, range ${formatNumber(Math.min(...values))} to ${formatNumber(
        Math.max(...values),
      )} ${unit} over ${s.points.length} readings${
        s.band ? `; normal ${formatNumber(s.band.low)} to ${formatNumber(s.band.high)}` : ''
      }`;
    })
    .join('. ');
}

/**
 * One trend plot with its normal band(s) shaded. The canvas takes its width
 * from the container (and follows it), so it never has a zero size. Where
 * there is no canvas (tests), only the text summary is rendered.
 */
export function TrendPlot(props: Props) {
  const container = useRef<HTMLDivElement>(null);
  const [failed, setFailed] = useState<string | null>(null);
  const propsRef = useRef(props);
  propsRef.current = props;
  const dataKey = JSON.stringify(props.series.map((s) => [s.label, s.points.length, s.points[0]?.t, s.points.at(-1)?.v]));

  useEffect(() => {
    const el = container.current;
    if (!el || !canPlot()) return undefined;
    let plot: uPlot | null = null;
    let observer: ResizeObserver | null = null;
    let cancelled = false;
    import('uplot')
      .then(({ default: UPlot }) => {
        if (cancelled) return;
        const rem = parseFloat(getComputedStyle(document.documentElement).fontSize) || 16;
        const size = () => ({ width: Math.max(Math.floor(el.clientWidth), 280), height: Math.round(rem * 13) });
        const { width, height } = size();
        plot = new UPlot(plotOptions(propsRef.current, width, height, rem), alignSeries(propsRef.current.series), el);
        observer = new ResizeObserver(() => plot?.setSize(size()));
        observer.observe(el);
        setFailed(null);
      })
      .catch((e: unknown) => {
        // The figures stay readable in the table and the summary below; the
        // reason (a library error, never patient data) is for the developer.
        if (!cancelled) setFailed(e instanceof Error ? `${e.name}: ${e.message}` : String(e));
      });
    return () => {
      cancelled = true;
      observer?.disconnect();
      plot?.destroy();
    };
  }, [dataKey]);

  return (
    <figure className="trend-plot" data-testid={props.testId}>
      <figcaption>
        {props.title} <span className="muted">({formatUnit(props.unit)})</span>
      </figcaption>
      <div ref={container} className="plot-canvas" role="img" aria-label={`${props.title} trend. ${summary(props)}`} />
      {failed !== null && (
        <p className="muted" data-testid="plot-failed" data-reason={failed}>
          The trend plot could not be drawn; the values are in the table.
        </p>
      )}
    </figure>
  );
}
