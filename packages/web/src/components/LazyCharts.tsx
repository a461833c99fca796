/**
 * The charts of `Charts.tsx`, loaded on first use: uPlot stays out of the initial bundle and out of pages
 * that draw nothing. Each one shows a placeholder of its height while it loads.
 */
import { type ComponentProps, lazy, Suspense } from "react";
import { Loading } from "./ui.tsx";

const load = () => import("./Charts.tsx");
const LazyHistogram = lazy(() => load().then((m) => ({ default: m.HistogramChart })));
const LazyRate = lazy(() => load().then((m) => ({ default: m.RateChart })));
const LazyPair = lazy(() => load().then((m) => ({ default: m.PairBars })));
const LazyTime = lazy(() => load().then((m) => ({ default: m.TimeChart })));
const LazyInterval = lazy(() => load().then((m) => ({ default: m.IntervalChart })));
const LazySequence = lazy(() => load().then((m) => ({ default: m.SequenceChart })));

type Charts = typeof import("./Charts.tsx");

const wait = <div className="chart-placeholder">{<Loading what="Loading the chart" />}</div>;

export function HistogramChart(props: ComponentProps<Charts["HistogramChart"]>) {
  return (
    <Suspense fallback={wait}>
      <LazyHistogram {...props} />
    </Suspense>
  );
}

export function RateChart(props: ComponentProps<Charts["RateChart"]>) {
  return (
    <Suspense fallback={wait}>
      <LazyRate {...props} />
    </Suspense>
  );
}

export function PairBars(props: ComponentProps<Charts["PairBars"]>) {
  return (
    <Suspense fallback={wait}>
      <LazyPair {...props} />
    </Suspense>
  );
}

export function TimeChart(props: ComponentProps<Charts["TimeChart"]>) {
  return (
    <Suspense fallback={wait}>
      <LazyTime {...props} />
    </Suspense>
  );
}

export function IntervalChart(props: ComponentProps<Charts["IntervalChart"]>) {
  return (
    <Suspense fallback={wait}>
      <LazyInterval {...props} />
    </Suspense>
  );
}

export function SequenceChart(props: ComponentProps<Charts["SequenceChart"]>) {
  return (
    <Suspense fallback={wait}>
      <LazySequence {...props} />
    </Suspense>
  );
}
