/**
 * The app's plots, drawn with uPlot. This module (and uPlot with it) is loaded only by pages that show a
 * chart, through `lazy()`: see `LazyCharts.tsx`. Every chart fits its container's width and follows it.
 */
import { useCallback, useEffect, useRef } from "react";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import type { Interval } from "../types.ts";

/** The stylesheet's colors, read when a chart is drawn (so light and dark both fit). */
function theme() {
  const css = getComputedStyle(document.documentElement);
  const v = (name: string, fallback: string) => css.getPropertyValue(name).trim() || fallback;
  return {
    accent: v("--accent", "#3b5bdb"),
    warn: v("--warn", "#b35c00"),
    ok: v("--ok", "#2b8a3e"),
    bad: v("--bad", "#c92a2a"),
    text: v("--text", "#1c2024"),
    muted: v("--muted", "#667085"),
    palette: [
      v("--accent", "#3b5bdb"),
      v("--warn", "#b35c00"),
      v("--ok", "#2b8a3e"),
      v("--tool", "#7048e8"),
      v("--bad", "#c92a2a"),
      v("--user", "#1c6fd1"),
      v("--system", "#8a6d00"),
      "#0c8599",
      "#e64980",
      "#868e96",
    ],
  };
}

type Theme = ReturnType<typeof theme>;

function axis(t: Theme, extra: Partial<uPlot.Axis> = {}): uPlot.Axis {
  return {
    stroke: t.muted,
    grid: { stroke: "rgba(128,128,128,.15)" },
    ticks: { stroke: "rgba(128,128,128,.25)" },
    ...extra,
  };
}

type Build = (width: number, t: Theme) => { opts: Omit<uPlot.Options, "width">; data: uPlot.AlignedData };

/**
 * Draws a uPlot chart in the returned ref's element, rebuilt when `build` changes (memoize it with
 * `useCallback`) and resized with the element. `build` gets the width to draw at and the colors.
 */
function usePlot(build: Build) {
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const width = () => Math.max(200, el.clientWidth || 600);
    const { opts, data } = build(width(), theme());
    const plot = new uPlot({ ...opts, width: width() } as uPlot.Options, data, el);
    let last = width();
    const ro =
      typeof ResizeObserver === "undefined"
        ? null
        : new ResizeObserver(() => {
            const w = width();
            if (w !== last) {
              last = w;
              plot.setSize({ width: w, height: opts.height });
            }
          });
    ro?.observe(el);
    return () => {
      ro?.disconnect();
      plot.destroy();
    };
  }, [build]);
  return box;
}

const bars = uPlot.paths.bars as NonNullable<typeof uPlot.paths.bars>;

/** A number as a short label: 0.25, 1, 1.5k. */
function short(n: number): string {
  if (!Number.isFinite(n)) return "";
  const a = Math.abs(n);
  if (a >= 1e6) return `${+(n / 1e6).toFixed(1)}M`;
  if (a >= 1e3) return `${+(n / 1e3).toFixed(1)}k`;
  if (Number.isInteger(n)) return String(n);
  return String(+n.toPrecision(3));
}

/** Room for the y axis: its widest tick label, the axis label and the ticks. */
const axisSize = (_u: uPlot, values: string[] | null) =>
  Math.max(48, 28 + 7 * Math.max(0, ...(values ?? []).map((v) => String(v).length)));

const pct = (v: number) => `${Math.round(v * 100)}%`;

/** An ordinal x scale: one slot per category, labelled by name. */
function categoryAxis(t: Theme, labels: string[]): uPlot.Axis {
  return axis(t, {
    grid: { show: false },
    values: (_u, splits) => splits.map((i) => labels[i] ?? ""),
    // One label per category, whatever the width.
    splits: () => labels.map((_, i) => i),
  });
}

/** The x scale of an ordinal bar chart: the categories, with half a slot of room on each side. */
const categoryScale = (n: number): uPlot.Scale => ({
  time: false,
  range: () => [-0.5, n - 0.5],
});

/** The y axis of numbers in `format`, labelled `label`, with room for its widest tick label. */
const valueAxis = (t: Theme, label: string, format: (v: number) => string, extra: Partial<uPlot.Axis> = {}) =>
  axis(t, { label, values: (_u, s) => s.map(format), size: axisSize, ...extra });

/** A series' value in the legend: `format`ted, a dash where there is none. */
const legendValue = (format: (v: number) => string) => (_u: uPlot, v: number | null) =>
  v === null ? "—" : format(v);

/** A bar series in `color`, filled at `alpha` (two hex digits), `size` as uPlot's bars take it. */
function barSeries(
  label: string,
  color: string,
  alpha: string,
  size: [number, number],
  extra: Partial<uPlot.Series> & { align?: -1 | 1 } = {},
): uPlot.Series {
  const { align, ...rest } = extra;
  return {
    label,
    stroke: color,
    fill: `${color}${alpha}`,
    width: 1,
    paths: bars(align === undefined ? { size } : { size, align }),
    points: { show: false },
    ...rest,
  };
}

/**
 * A chart over categories (one slot each, x labelled by `labels`): no hover points, the y scale and axis as
 * given, `values` the series' values per category (`series[0]` is the x series).
 */
function categoryChart(
  t: Theme,
  labels: string[],
  o: {
    height: number;
    legend?: uPlot.Legend;
    y: uPlot.Scale;
    yAxis: uPlot.Axis;
    series: uPlot.Series[];
    plugins?: uPlot.Plugin[];
  },
  ...values: Array<Array<number | null>>
): ReturnType<Build> {
  return {
    opts: {
      height: o.height,
      legend: o.legend ?? { show: false },
      cursor: { points: { show: false } },
      scales: { x: categoryScale(labels.length), y: o.y },
      axes: [categoryAxis(t, labels), o.yAxis],
      series: o.series,
      ...(o.plugins ? { plugins: o.plugins } : {}),
    },
    data: [labels.map((_, i) => i), ...values] as uPlot.AlignedData,
  };
}

/** The element a chart is drawn in (by `build`, see `usePlot`), described for screen readers by `label`. */
function ChartBox({ build, testId, label }: { build: Build; testId: string; label: string }) {
  const box = usePlot(build);
  return <div className="chart-box" ref={box} data-testid={testId} role="img" aria-label={label} />;
}

/**
 * Reward distribution: how many calls fall in each reward bucket (`bucket` is the bucket's lower edge).
 *
 * @example <HistogramChart buckets={[{ bucket: 0, count: 3 }, { bucket: 1, count: 5 }]} />
 */
export function HistogramChart({ buckets }: { buckets: Array<{ bucket: number; count: number }> }) {
  const build = useCallback<Build>(
    (_w, t) =>
      categoryChart(
        t,
        // Each bucket is labelled by its lower edge: it holds the calls from there up to the next one.
        buckets.map((b) => short(b.bucket)),
        {
          height: 200,
          y: { range: (_u, _lo, hi) => [0, Math.max(1, hi * 1.1)] },
          yAxis: axis(t, {
            label: "calls",
            values: (_u, s) => s.map((v) => (Number.isInteger(v) ? String(v) : "")),
          }),
          series: [{}, barSeries("calls", t.accent, "aa", [0.8, 80])],
        },
        buckets.map((b) => b.count),
      ),
    [buckets],
  );
  return (
    <ChartBox
      build={build}
      testId="histogram-chart"
      label={`reward histogram: ${buckets.map((b) => `${b.bucket}: ${b.count}`).join(", ")}`}
    />
  );
}

/** Draws a 95% interval as a whisker over each bar of series 1. */
function whiskers(cis: Interval[], color: string): uPlot.Plugin {
  return {
    hooks: {
      draw: [
        (u) => {
          const ctx = u.ctx;
          ctx.save();
          ctx.strokeStyle = color;
          ctx.lineWidth = 1.5 * devicePixelRatio;
          const half = 6 * devicePixelRatio;
          cis.forEach((ci, i) => {
            if (!ci) return;
            const x = u.valToPos(i, "x", true);
            const lo = u.valToPos(ci[0], "y", true);
            const hi = u.valToPos(ci[1], "y", true);
            ctx.beginPath();
            ctx.moveTo(x, lo);
            ctx.lineTo(x, hi);
            ctx.moveTo(x - half, lo);
            ctx.lineTo(x + half, lo);
            ctx.moveTo(x - half, hi);
            ctx.lineTo(x + half, hi);
            ctx.stroke();
          });
          ctx.restore();
        },
      ],
    },
  };
}

/**
 * Rates (0..1) as bars with their 95% interval as whiskers: check pass rates, win/tie/loss.
 *
 * @example <RateChart rows={[{ label: "json-schema", rate: 0.8, ci: [0.49, 0.94] }]} />
 */
export function RateChart({
  rows,
  testId = "rate-chart",
  label = "pass rate",
}: {
  rows: Array<{ label: string; rate: number | null; ci: Interval }>;
  testId?: string;
  label?: string;
}) {
  const build = useCallback<Build>(
    (_w, t) =>
      categoryChart(
        t,
        rows.map((r) => r.label),
        {
          height: 220,
          y: { range: [0, 1] },
          yAxis: axis(t, { label, values: (_u, s) => s.map(pct) }),
          series: [{}, barSeries(label, t.accent, "99", [0.6, 90])],
          plugins: [
            whiskers(
              rows.map((r) => r.ci),
              t.text,
            ),
          ],
        },
        rows.map((r) => r.rate),
      ),
    [rows, label],
  );
  return (
    <ChartBox
      build={build}
      testId={testId}
      label={`${label}: ${rows.map((r) => `${r.label} ${r.rate === null ? "n/a" : pct(r.rate)}`).join(", ")}`}
    />
  );
}

/**
 * Two series side by side per category: e.g. baseline and candidate latency at mean, p50 and p95.
 *
 * @example <PairBars categories={["mean", "p95"]} series={[{ label: "baseline", values: [120, 300] }, { label: "candidate", values: [90, 250] }]} unit="ms" />
 */
export function PairBars({
  categories,
  series,
  unit,
  format = short,
  testId = "pair-bars",
}: {
  categories: string[];
  series: [{ label: string; values: Array<number | null> }, { label: string; values: Array<number | null> }];
  unit: string;
  format?: (v: number) => string;
  testId?: string;
}) {
  const build = useCallback<Build>(
    (_w, t) =>
      categoryChart(
        t,
        categories,
        {
          height: 220,
          legend: { live: false },
          y: { range: (_u, _lo, hi) => [0, hi > 0 ? hi * 1.1 : 1] },
          yAxis: valueAxis(t, unit, format),
          series: [
            { label: "", value: (_u, v) => (v === null ? "" : (categories[v] ?? "")) },
            ...series.map((s, j) =>
              barSeries(s.label, j === 0 ? t.muted : t.accent, "bb", [0.35, 60], {
                value: legendValue((v) => `${format(v)} ${unit}`),
                // The first bar ends at the category's tick, the second starts there: side by side.
                align: j === 0 ? -1 : 1,
              }),
            ),
          ],
        },
        ...series.map((s) => s.values),
      ),
    [categories, series, unit, format],
  );
  return (
    <ChartBox
      build={build}
      testId={testId}
      label={`${unit}: ${series.map((s) => `${s.label} ${s.values.map((v) => (v === null ? "—" : format(v))).join(" / ")}`).join("; ")}`}
    />
  );
}

/**
 * Lines over time, one per group (null values are gaps).
 *
 * @example <TimeChart xs={[1717200000, 1717203600]} series={[{ label: "gpt-4o", values: [3, 5] }]} unit="calls" />
 */
export function TimeChart({
  xs,
  series,
  unit,
  format = short,
  testId = "time-chart",
  height = 240,
  integer = false,
  points = true,
  yRange,
  markers,
}: {
  /** Seconds since the epoch. */
  xs: number[];
  /** `color`: an index into the palette, to keep a group's color the same across charts. */
  series: Array<{ label: string; values: Array<number | null>; color?: number }>;
  unit: string;
  format?: (v: number) => string;
  testId?: string;
  height?: number;
  /** A fixed y range (rates: [0, 1]); by default from 0 (or below) to the highest value. */
  yRange?: [number, number];
  /** Counts: ticks on whole numbers only. */
  integer?: boolean;
  /** Draw each value as a dot (where gaps leave single values that a line would not show). */
  points?: boolean;
  /** Vertical lines at these times (events such as a configuration change), each with a short label. */
  markers?: TimeMarker[];
}) {
  const build = useCallback<Build>(
    (_w, t) => ({
      opts: {
        height,
        scales: {
          x: { time: true },
          y: { range: yRange ?? ((_u, lo, hi) => [Math.min(0, lo), hi > lo ? hi * 1.05 : hi + 1]) },
        },
        axes: [
          axis(t),
          valueAxis(
            t,
            unit,
            format,
            integer ? { incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1e3, 2e3, 5e3, 1e4, 1e5, 1e6] } : {},
          ),
        ],
        series: [
          {},
          ...series.map((s, j) => {
            const color = t.palette[(s.color ?? j) % t.palette.length] as string;
            return {
              label: s.label,
              stroke: color,
              width: 2,
              spanGaps: false,
              value: legendValue(format),
              points: { show: points, size: 5, fill: color },
            } satisfies uPlot.Series;
          }),
        ],
        plugins: markers?.length ? [vmarkers(markers)] : [],
      },
      data: [xs, ...series.map((s) => s.values)] as uPlot.AlignedData,
    }),
    [xs, series, unit, height, format, integer, points, yRange, markers],
  );
  return <ChartBox build={build} testId={testId} label={`${unit} over time`} />;
}

/**
 * Estimates with their intervals, one per category, as dots with whiskers on a scale that fits them (rewards
 * need not lie in 0..1). A dashed line marks `reference` (the control's estimate) when given.
 *
 * @example <IntervalChart rows={[{ label: "control", estimate: 0.6, low: 0.5, high: 0.7 }]} unit="reward" />
 */
export function IntervalChart({
  rows,
  unit,
  testId = "interval-chart",
  reference,
}: {
  rows: Array<{ label: string; estimate: number | null; low: number | null; high: number | null }>;
  unit: string;
  testId?: string;
  reference?: number | null;
}) {
  const build = useCallback<Build>(
    (_w, t) => {
      const known = rows.flatMap((r) =>
        [r.estimate, r.low, r.high].filter((v): v is number => typeof v === "number"),
      );
      const lo = Math.min(0, ...known);
      const hi = Math.max(1, ...known);
      const pad = (hi - lo) * 0.05;
      // No whisker where the interval is not known yet.
      const ranges: Interval[] = rows.map((r) =>
        r.low === null || r.high === null ? null : [r.low, r.high],
      );
      const plugins: uPlot.Plugin[] = [whiskers(ranges, t.text)];
      if (typeof reference === "number") plugins.push(hline(reference, t.muted));
      return categoryChart(
        t,
        rows.map((r) => r.label),
        {
          height: 220,
          y: { range: [lo - pad, hi + pad] },
          yAxis: valueAxis(t, unit, short),
          series: [
            {},
            { label: unit, stroke: t.accent, width: 0, points: { show: true, size: 10, fill: t.accent } },
          ],
          plugins,
        },
        rows.map((r) => r.estimate),
      );
    },
    [rows, unit, reference],
  );
  return (
    <ChartBox
      build={build}
      testId={testId}
      label={`${unit}: ${rows.map((r) => `${r.label} ${r.estimate === null ? "n/a" : short(r.estimate)}`).join(", ")}`}
    />
  );
}

/** A dashed horizontal line at `y` (zero difference, the control's level). */
/** A vertical marker of a time chart: `x` in seconds since the epoch, `label` drawn by the line, `title` on hover. */
export interface TimeMarker {
  x: number;
  label: string;
  title: string;
}

/**
 * Vertical markers as elements over the plot (not canvas strokes), so that each one carries its hash and time
 * as text a reader can hover, select or find; placed again whenever the plot is drawn or resized.
 */
function vmarkers(markers: TimeMarker[]): uPlot.Plugin {
  const place = (u: uPlot) => {
    for (const el of u.over.querySelectorAll(".chart-marker")) el.remove();
    const [lo, hi] = [u.scales.x?.min ?? -Infinity, u.scales.x?.max ?? Infinity];
    for (const m of markers) {
      // The caller keeps the markers of the requested range; the plotted axis ends at the last bucket's start,
      // so a change later in that bucket (today, this hour) stands at the edge instead of being dropped. Its
      // title keeps the exact time.
      const x = Math.min(Math.max(m.x, lo), hi);
      const el = document.createElement("div");
      el.className = "chart-marker";
      el.dataset.testid = "chart-marker";
      const left = u.valToPos(x, "x");
      el.style.left = `${left}px`;
      // Near the right edge the label goes on the line's left, where it is not cut off.
      if (left > u.over.clientWidth - 90) el.classList.add("chart-marker-end");
      el.title = m.title;
      const label = document.createElement("span");
      label.className = "chart-marker-label";
      label.textContent = m.label;
      el.append(label);
      u.over.append(el);
    }
  };
  return { hooks: { ready: [place], setSize: [place], setScale: [(u, key) => key === "x" && place(u)] } };
}

function hline(y: number, color: string): uPlot.Plugin {
  return {
    hooks: {
      draw: [
        (u) => {
          const ctx = u.ctx;
          const py = u.valToPos(y, "y", true);
          ctx.save();
          ctx.strokeStyle = color;
          ctx.lineWidth = 1 * devicePixelRatio;
          ctx.setLineDash([5 * devicePixelRatio, 4 * devicePixelRatio]);
          ctx.beginPath();
          ctx.moveTo(u.bbox.left, py);
          ctx.lineTo(u.bbox.left + u.bbox.width, py);
          ctx.stroke();
          ctx.restore();
        },
      ],
    },
  };
}

/**
 * Each treatment's difference to the control over time (a line) inside its confidence-sequence band (shaded,
 * low to high), with the zero line: where the band leaves zero, the difference is settled.
 *
 * @example <SequenceChart xs={[1717200000]} series={[{ label: "short", estimate: [0.1], low: [-0.2], high: [0.4] }]} unit="reward" />
 */
export function SequenceChart({
  xs,
  series,
  unit,
  testId = "sequence-chart",
  height = 280,
}: {
  /** Seconds since the epoch. */
  xs: number[];
  series: Array<{
    label: string;
    estimate: Array<number | null>;
    low: Array<number | null>;
    high: Array<number | null>;
  }>;
  unit: string;
  testId?: string;
  height?: number;
}) {
  const build = useCallback<Build>(
    (_w, t) => {
      const all = series.flatMap((s) => [...s.low, ...s.high, ...s.estimate]);
      const known = all.filter((v): v is number => typeof v === "number");
      const lo = Math.min(0, ...known);
      const hi = Math.max(0, ...known);
      const pad = Math.max(0.05, (hi - lo) * 0.08);
      const colors = series.map((_, j) => t.palette[(j + 1) % t.palette.length] as string);
      // One x (a single day so far) would leave uPlot without a span: show a day on each side.
      const [first = 0, last = 0] = [xs[0], xs[xs.length - 1]];
      const x: uPlot.Scale =
        xs.length > 1 ? { time: true } : { time: true, range: () => [first - 86_400, last + 86_400] };
      return {
        opts: {
          height,
          legend: { live: false },
          scales: { x, y: { range: [lo - pad, hi + pad] } },
          axes: [axis(t), valueAxis(t, `difference in ${unit}`, short)],
          series: [
            {},
            ...series.map(
              (s, j) =>
                ({
                  label: `${s.label} − control`,
                  stroke: colors[j],
                  width: 2,
                  spanGaps: true,
                  value: legendValue(short),
                  points: { show: true, size: 6, fill: colors[j] },
                }) satisfies uPlot.Series,
            ),
          ],
          // The bands are drawn, not series, so the legend names the lines only.
          plugins: [bandsPlugin(xs, series, colors), hline(0, t.muted)],
        },
        data: [xs, ...series.map((s) => s.estimate)] as uPlot.AlignedData,
      };
    },
    [xs, series, unit, height],
  );
  return (
    <ChartBox
      build={build}
      testId={testId}
      label={`difference to control in ${unit} over time, with its confidence-sequence band`}
    />
  );
}

/**
 * Shades each series' band from `low` to `high` under the lines (a point where either is unknown splits the
 * band); a lone point gets a vertical bar.
 */
function bandsPlugin(
  xs: number[],
  series: Array<{ low: Array<number | null>; high: Array<number | null> }>,
  colors: string[],
): uPlot.Plugin {
  return {
    hooks: {
      // After the axes, before the lines: the bands lie under them.
      drawAxes: [
        (u) => {
          const ctx = u.ctx;
          ctx.save();
          series.forEach((s, j) => {
            const color = colors[j] as string;
            const runs: number[][] = [[]];
            xs.forEach((_, k) => {
              if (s.low[k] === null || s.high[k] === null) runs.push([]);
              else runs[runs.length - 1]?.push(k);
            });
            for (const run of runs) {
              if (run.length === 0) continue;
              const px = (k: number) => u.valToPos(xs[k] as number, "x", true);
              const py = (v: number) => u.valToPos(v, "y", true);
              if (run.length === 1) {
                const k = run[0] as number;
                ctx.strokeStyle = `${color}88`;
                ctx.lineWidth = 8 * devicePixelRatio;
                ctx.beginPath();
                ctx.moveTo(px(k), py(s.low[k] as number));
                ctx.lineTo(px(k), py(s.high[k] as number));
                ctx.stroke();
                continue;
              }
              ctx.fillStyle = `${color}2e`;
              ctx.beginPath();
              run.forEach((k, m) => {
                const y = py(s.high[k] as number);
                if (m === 0) ctx.moveTo(px(k), y);
                else ctx.lineTo(px(k), y);
              });
              for (const k of [...run].reverse()) ctx.lineTo(px(k), py(s.low[k] as number));
              ctx.closePath();
              ctx.fill();
            }
          });
          ctx.restore();
        },
      ],
    },
  };
}
