/**
 * What the benchmarks read of the processes they measure and of wrk's report (bench/run.ts, bench/scaling.ts).
 */
import fs from "node:fs";
import net from "node:net";
import { SCHED_IDLE, threadPolicy } from "../packages/server/src/util/thread-priority.ts";

export async function waitPort(port: number, tries = 600): Promise<void> {
  for (let i = 0; i < tries; i++) {
    const ok = await new Promise<boolean>((r) => {
      const s = net.connect(port, "127.0.0.1", () => r(!!s.end()));
      s.on("error", () => r(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nothing listens on ${port}`);
}

/**
 * Waits until the server on `port` has stored every call it answered (`GET /api/status`: nothing queued in memory
 * nor waiting in the journal) and returns the seconds that took. A run at c=50 on two shared cores answers faster
 * than the store takes calls; the run after it would otherwise measure the catch-up beside its own requests.
 */
export async function storeCaughtUp(port: number, timeoutMs = 120_000): Promise<number> {
  const t0 = performance.now();
  // The calls wrk cut at its end are recorded as the server sees their connections close, a moment after.
  await new Promise((r) => setTimeout(r, 100));
  for (;;) {
    const res = await fetch(`http://127.0.0.1:${port}/api/status`);
    if (!res.ok) throw new Error(`GET /api/status on ${port}: ${res.status} ${await res.text()}`);
    const { queue } = (await res.json()) as { queue: { depth: number; journaled: number } };
    if (queue.depth === 0 && queue.journaled === 0) return (performance.now() - t0) / 1000;
    if (performance.now() - t0 > timeoutMs)
      throw new Error(`the server on ${port} still has ${queue.depth + queue.journaled} calls to store`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** CPU time (user + system, every thread) the processes spent, in clock ticks; a process gone counts 0. */
export function cpuTicks(...pids: number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    try {
      const f = fs.readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
      ticks += Number(f[11]) + Number(f[12]);
    } catch {}
  }
  return ticks;
}

/**
 * CPU time per thread group of one process, in clock ticks: its event loop (`MainThread`), its worker threads
 * (`WorkerThread`: intersebd's writer), and every other thread (V8's GC helpers, libuv's pool) together.
 */
export function cpuTicksByThread(pid: number): { loop: number; workers: number; other: number } {
  const out = { loop: 0, workers: 0, other: 0 };
  let tasks: string[] = [];
  try {
    tasks = fs.readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tasks) {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8");
      const name = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      const f = stat.slice(stat.lastIndexOf(") ") + 2).split(" ");
      const ticks = Number(f[11]) + Number(f[12]);
      if (name === "MainThread") out.loop += ticks;
      else if (name === "WorkerThread") out.workers += ticks;
      else out.other += ticks;
    } catch {}
  }
  return out;
}

/**
 * Whether the process's writer thread (`WorkerThread`) runs in SCHED_IDLE now (README, "The writer runs when
 * nothing else wants the core"); undefined when it has none.
 */
export function writerIdle(pid: number): boolean | undefined {
  try {
    for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
      if (fs.readFileSync(`/proc/${pid}/task/${tid}/comm`, "utf8").trim() !== "WorkerThread") continue;
      return threadPolicy(tid, pid) === SCHED_IDLE;
    }
  } catch {}
  return undefined;
}

export function peakRssMb(pid: number): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"));
    return Number(m?.[1] ?? 0) / 1024;
  } catch {
    return 0;
  }
}

function toMs(v: string): number {
  const m = /([\d.]+)(us|ms|s)/.exec(v);
  if (!m) return Number.NaN;
  const n = Number(m[1]);
  return m[2] === "us" ? n / 1000 : m[2] === "ms" ? n : n * 1000;
}

export interface WrkResult {
  rps: number;
  p50: number;
  p99: number;
  requests: number;
}

/** wrk's `--latency` report; throws when it saw error responses (`target` names what was measured). */
export function parseWrk(out: string, target: string): WrkResult {
  const errors = /Non-2xx or 3xx responses: (\d+)/.exec(out);
  if (errors) throw new Error(`wrk saw ${errors[1]} error responses from ${target}`);
  // Percentiles from the latency distribution's own lines: the thread stats above end in "+/- Stdev" percentages.
  return {
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]),
    p50: toMs(/^\s*50%\s+(\S+)/m.exec(out)?.[1] ?? ""),
    p99: toMs(/^\s*99%\s+(\S+)/m.exec(out)?.[1] ?? ""),
    requests: Number(/(\d+) requests in/.exec(out)?.[1]),
  };
}

/** The process and its descendants (a cluster's primary and its workers), parents first. */
export function processTree(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const ppid = Number(fs.readFileSync(`/proc/${entry}/stat`, "utf8").split(") ")[1]?.split(" ")[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
    } catch {}
  }
  const out = [pid];
  for (let i = 0; i < out.length; i++) out.push(...(children.get(out[i] as number) ?? []));
  return out;
}
