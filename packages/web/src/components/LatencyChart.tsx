import { useEffect, useRef } from "react";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import type { CallView } from "../types.ts";

/** Duration and time to first token of the loaded calls over time (uPlot; loaded only when opened). */
export default function LatencyChart({ calls }: { calls: CallView[] }) {
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const sorted = [...calls].sort((a, b) => Date.parse(a.startedAt) - Date.parse(b.startedAt));
    const xs = sorted.map((c) => Date.parse(c.startedAt) / 1000);
    const dur = sorted.map((c) => c.durationMs);
    const ttft = sorted.map((c) => c.ttftMs);
    const css = getComputedStyle(document.documentElement);
    const accent = css.getPropertyValue("--accent").trim() || "#3b5bdb";
    const warn = css.getPropertyValue("--warn").trim() || "#e8590c";
    const axis = {
      stroke: css.getPropertyValue("--muted").trim() || "#888",
      grid: { stroke: "rgba(128,128,128,.15)" },
    };
    const plot = new uPlot(
      {
        width: el.clientWidth || 800,
        height: 220,
        scales: { x: { time: true } },
        axes: [axis, { ...axis, label: "ms" }],
        series: [
          {},
          { label: "duration ms", stroke: accent, width: 0, points: { show: true, size: 6, fill: accent } },
          { label: "ttft ms", stroke: warn, width: 0, points: { show: true, size: 5, fill: warn } },
        ],
      },
      [xs, dur, ttft],
      el,
    );
    const onResize = () => plot.setSize({ width: el.clientWidth || 800, height: 220 });
    window.addEventListener("resize", onResize);
    return () => {
      window.removeEventListener("resize", onResize);
      plot.destroy();
    };
  }, [calls]);
  return <div className="card chart" ref={box} data-testid="latency-chart" />;
}
