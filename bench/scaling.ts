/**
 * The `--workers` sweep (issue 20; README, Benchmarks, "Several cores"): intersebd with 1, 2, 4, ... workers up to
 * the cores given to the proxy, each against as many bare reference proxies (bench/bare-proxy.ts on node:cluster),
 * driven by wrk at c=64 and c=256. Run it through bench/scaling.sh, which checks what it needs.
 *
 * Cores are split and pinned with taskset: the proxies (intersebd or bare, one at a time) run on the proxy cores,
 * wrk and the fake upstream (as many processes as half the load cores, bench/cluster-upstream.ts) on the others,
 * so that the load generator never competes with what it measures.
 *
 * Options: --max N (most workers; default: the proxy cores), --proxy-cores LIST, --load-cores LIST (taskset
 * lists such as 0-7; default: the first half of the cores for the proxy, the rest for the load), --duration S
 * (per wrk run, default 10), --runs N (median of N, default 3; bare and intersebd alternate within each run).
 * Prints one table and writes bench/results/scaling.{json,md}.
 *
 * Per row: requests/s and p50/p99 at c=64 and c=256; scaling = req/s at c=256 over N × one worker's; CPU µs per
 * request over the whole process tree (primary and workers, every thread); peak RSS of the largest worker.
 */
import { type ChildProcess, execFileSync, spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { cpuTicks, parseWrk, peakRssMb, processTree, type WrkResult, waitPort } from "./measure.ts";

const { values: opts } = parseArgs({
  options: {
    max: { type: "string" },
    "proxy-cores": { type: "string" },
    "load-cores": { type: "string" },
    duration: { type: "string" },
    runs: { type: "string" },
  },
});
const ROOT = path.resolve(import.meta.dirname, "..");
const NODE = process.execPath;
const CLI = path.join(ROOT, "packages/server/bin/intersebd.js");
const TMP = fs.mkdtempSync(path.join(os.tmpdir(), "intersebd-scaling-"));
const CLK_TCK = Number(spawnSync("getconf", ["CLK_TCK"]).stdout?.toString().trim() || 100);
const DURATION = Number(opts.duration ?? 10);
const RUNS = Number(opts.runs ?? 3);
const log = (s: string) => process.stderr.write(`${s}\n`);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;

/** A taskset list ("0-3,8") as core numbers. */
function coresOf(list: string): number[] {
  return list.split(",").flatMap((part) => {
    const [a, b] = part.split("-").map(Number) as [number, number | undefined];
    return b === undefined ? [a] : Array.from({ length: b - a + 1 }, (_, i) => a + i);
  });
}

const allCores = os.availableParallelism();
const half = Math.max(1, Math.floor(allCores / 2));
const proxyCores = opts["proxy-cores"] ?? `0-${half - 1}`;
const loadCores = opts["load-cores"] ?? (allCores > 1 ? `${half}-${allCores - 1}` : "0");
const maxWorkers = Number(opts.max ?? coresOf(proxyCores).length);
const loadCount = coresOf(loadCores).length;
const sweep: number[] = [];
for (let n = 1; n < maxWorkers; n *= 2) sweep.push(n);
sweep.push(maxWorkers);

const children: ChildProcess[] = [];
/** Starts `command args` pinned to `cores` (the CLI through its shebang, the rest on this Node). */
function pinned(cores: string, args: string[], env: Record<string, string> = {}): ChildProcess {
  const command = args[0] === CLI ? args : [NODE, ...args];
  const child = spawn("taskset", ["-c", cores, ...command], {
    env: { ...process.env, PATH: `${path.dirname(NODE)}${path.delimiter}${process.env.PATH}`, ...env },
    stdio: ["ignore", "ignore", "inherit"],
  });
  children.push(child);
  return child;
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  await new Promise((resolve) => {
    child.once("exit", resolve);
    child.kill("SIGTERM");
  });
}

function wrk(port: number, connections: number, seconds = DURATION): WrkResult {
  const threads = Math.max(1, Math.min(Math.floor(loadCount / 2), connections));
  const out = execFileSync(
    "taskset",
    [
      "-c",
      loadCores,
      "wrk",
      `-t${threads}`,
      `-c${connections}`,
      `-d${seconds}s`,
      "--latency",
      "-s",
      path.join(ROOT, "bench/post.lua"),
      `http://127.0.0.1:${port}/v1/chat/completions`,
    ],
    { encoding: "utf8" },
  );
  return parseWrk(out, `port ${port}`);
}

type Target = "bare" | "intersebd";
interface Sample {
  c64: WrkResult;
  c256: WrkResult;
  cpuUsPerReq: number;
  peakRssMbPerWorker: number;
}

const UPSTREAM = 19_951;
const PROXY = 19_952;

/** One target with `n` workers: started, warmed, measured at c=64 and c=256, stopped. */
async function measure(target: Target, n: number, run: number): Promise<Sample> {
  const child =
    target === "bare"
      ? pinned(proxyCores, [
          path.join(ROOT, "bench/bare-proxy.ts"),
          String(PROXY),
          `http://127.0.0.1:${UPSTREAM}`,
          String(n),
        ])
      : pinned(
          proxyCores,
          [
            CLI,
            "serve",
            "--workers",
            String(n),
            "--port",
            String(PROXY),
            "--data-dir",
            path.join(TMP, `serve-${n}-${run}`),
            "-u",
            `http://127.0.0.1:${UPSTREAM}/v1`,
          ],
          { INTERSEBD_LOG_LEVEL: "warn" },
        );
  try {
    await waitPort(PROXY);
    wrk(PROXY, 64, 2); // warm-up: the JIT, the keep-alive pools, the first SQLite pages
    const pids = processTree(child.pid as number);
    const before = cpuTicks(...pids);
    const c64 = wrk(PROXY, 64);
    const cpu = cpuTicks(...processTree(child.pid as number)) - before;
    const c256 = wrk(PROXY, 256);
    // A worker's peak, not the primary's: with one worker there is no primary (intersebd) or no cluster (bare).
    const workers = n > 1 ? processTree(child.pid as number).slice(1) : [child.pid as number];
    const peakRssMbPerWorker = Math.max(...workers.map(peakRssMb));
    return { c64, c256, cpuUsPerReq: ((cpu / CLK_TCK) * 1e6) / c64.requests, peakRssMbPerWorker };
  } finally {
    await stop(child);
  }
}

const fmt = (n: number, digits = 0) =>
  Number.isFinite(n)
    ? n.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits })
    : "—";

try {
  log(
    `cores: ${allCores}; proxy on ${proxyCores}, wrk and upstream on ${loadCores}; workers ${sweep.join(", ")}`,
  );
  const loadAtStart = os.loadavg();
  log(`load at start: ${loadAtStart.map((l) => l.toFixed(2)).join(" ")}`);
  const upstream = pinned(loadCores, [
    path.join(ROOT, "bench/cluster-upstream.ts"),
    String(UPSTREAM),
    String(Math.max(1, Math.floor(loadCount / 2))),
  ]);
  await waitPort(UPSTREAM);
  const samples = new Map<string, Sample[]>();
  for (let run = 1; run <= RUNS; run++) {
    for (const n of sweep) {
      for (const target of ["bare", "intersebd"] as Target[]) {
        log(`run ${run}/${RUNS}: ${target}, ${n} worker(s)`);
        const key = `${target}:${n}`;
        samples.set(key, [...(samples.get(key) ?? []), await measure(target, n, run)]);
      }
    }
  }
  await stop(upstream);
  const summary = (target: Target, n: number) => {
    const s = samples.get(`${target}:${n}`) ?? [];
    const pick = (f: (x: Sample) => number) => median(s.map(f));
    const spread = (f: (x: Sample) => number) => [Math.min(...s.map(f)), Math.max(...s.map(f))];
    return {
      rpsC64: pick((x) => x.c64.rps),
      p50C64: pick((x) => x.c64.p50),
      p99C64: pick((x) => x.c64.p99),
      rpsC256: pick((x) => x.c256.rps),
      rpsC256Spread: spread((x) => x.c256.rps),
      p50C256: pick((x) => x.c256.p50),
      p99C256: pick((x) => x.c256.p99),
      cpuUsPerReq: pick((x) => x.cpuUsPerReq),
      peakRssMbPerWorker: pick((x) => x.peakRssMbPerWorker),
    };
  };
  const rows = sweep.map((n) => ({
    workers: n,
    bare: summary("bare", n),
    intersebd: summary("intersebd", n),
  }));
  const one = rows[0] as (typeof rows)[number];
  const lines = [
    `intersebd --workers sweep — ${new Date().toISOString().slice(0, 10)}, ${allCores} cores (${os.cpus()[0]?.model ?? "?"}), ` +
      `proxy pinned to ${proxyCores}, wrk and ${Math.max(1, Math.floor(loadCount / 2))} upstream processes to ${loadCores}, ` +
      `Node ${process.versions.node}, median of ${RUNS} run(s) of ${DURATION}s, load average ${loadAtStart[0]?.toFixed(2)} at start, ${os.loadavg()[0]?.toFixed(2)} at the end`,
    "",
    "| workers | target | req/s c=64 | p50 / p99 ms c=64 | req/s c=256 (min–max) | p50 / p99 ms c=256 | scaling vs N × 1 worker (c=256) | vs bare | CPU µs/req | peak RSS MB per worker |",
    "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
  ];
  for (const r of rows) {
    for (const target of ["bare", "intersebd"] as Target[]) {
      const x = r[target];
      const scaling = x.rpsC256 / (r.workers * one[target].rpsC256);
      lines.push(
        `| ${r.workers} | ${target} | ${fmt(x.rpsC64)} | ${fmt(x.p50C64, 2)} / ${fmt(x.p99C64, 2)} | ${fmt(x.rpsC256)} (${fmt(x.rpsC256Spread[0] as number)}–${fmt(x.rpsC256Spread[1] as number)}) | ` +
          `${fmt(x.p50C256, 2)} / ${fmt(x.p99C256, 2)} | ${fmt(scaling, 2)}${target === "intersebd" && r.workers > 1 ? (scaling >= 0.8 ? " (≥ 0.8: yes)" : " (≥ 0.8: **no**)") : ""} | ` +
          `${target === "intersebd" ? `${fmt(x.rpsC256 / r.bare.rpsC256, 2)}×` : ""} | ${fmt(x.cpuUsPerReq)} | ${fmt(x.peakRssMbPerWorker)} |`,
      );
    }
  }
  const table = lines.join("\n");
  process.stdout.write(`\n${table}\n`);
  fs.mkdirSync(path.join(ROOT, "bench/results"), { recursive: true });
  fs.writeFileSync(path.join(ROOT, "bench/results/scaling.md"), `${table}\n`);
  fs.writeFileSync(
    path.join(ROOT, "bench/results/scaling.json"),
    `${JSON.stringify({ cores: allCores, proxyCores, loadCores, runs: RUNS, duration: DURATION, rows }, null, 2)}\n`,
  );
} finally {
  for (const c of children) c.kill();
  fs.rmSync(TMP, { recursive: true, force: true });
}
