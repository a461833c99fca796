/**
 * `npm run bench:profile`: where a proxied request's CPU goes, per request, for the bare reference proxy and for
 * intersebd storing nothing and storing every call (README, Benchmarks: "The tail, and a writer thread"). Each target
 * runs alone beside the fake upstream under V8's sampling profiler (`--cpu-prof`, every 100 µs), driven by wrk at
 * c=50; the profile covers the whole life of the process, so every request it served is counted (warm-up included)
 * and the times are divided by that count, exactly.
 *
 * Prints, per target, µs per request of the process's main thread (and of its writer thread, storing) by kind (intersebd's code, its dependencies, Node's
 * JavaScript, the socket writes, the collector, idle) and the functions that cost most. Sampling adds overhead, so
 * the figures are larger than the bench's `/proc` ones; compare targets with each other, not with those.
 * Options: --targets bare,nothing,stored (default all), --seconds S (default 6), --top N (default 25).
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { parseWrk, waitPort } from "./measure.ts";

const { values: opts } = parseArgs({
  options: {
    targets: { type: "string", default: "bare,nothing,stored" },
    seconds: { type: "string", default: "6" },
    top: { type: "string", default: "25" },
  },
});
const ROOT = path.resolve(import.meta.dirname, "..");
const CLI = path.join(ROOT, "packages/server/bin/intersebd.js");
const TMP = fs.mkdtempSync(path.join(os.tmpdir(), "intersebd-profile-"));
const [UPSTREAM_PORT, PROXY_PORT] = [19_951, 19_952];
const env = { ...process.env, PATH: `${path.dirname(process.execPath)}${path.delimiter}${process.env.PATH}` };

/** A `.cpuprofile` as V8 writes it (the parts read here). */
interface CpuProfile {
  nodes: Array<{ id: number; callFrame: { functionName: string; url: string; lineNumber: number } }>;
  samples: number[];
  timeDeltas: number[];
}

type Target = "bare" | "nothing" | "stored";

function start(target: Target, dir: string): ChildProcess {
  const prof = ["--cpu-prof", `--cpu-prof-dir=${dir}`, "--cpu-prof-interval=100"];
  if (target === "bare") {
    // The bare proxy has no SIGTERM handler; one that exits lets V8 write the profile.
    const exitOnTerm = `data:text/javascript,process.on("SIGTERM",()=>process.exit(0))`;
    const args = [
      ...prof,
      "--import",
      exitOnTerm,
      path.join(ROOT, "bench/bare-proxy.ts"),
      String(PROXY_PORT),
    ];
    return spawn(process.execPath, [...args, `http://127.0.0.1:${UPSTREAM_PORT}`], { env, stdio: "ignore" });
  }
  const args = ["serve", "--port", String(PROXY_PORT), "--data-dir", path.join(TMP, target)];
  return spawn(CLI, [...args, "-u", `http://127.0.0.1:${UPSTREAM_PORT}/v1`], {
    env: {
      ...env,
      NODE_OPTIONS: prof.join(" "),
      INTERSEBD_LOG_LEVEL: "warn",
      ...(target === "nothing" ? { INTERSEBD_SAMPLE_RATE: "0" } : {}),
    },
    stdio: "ignore",
  });
}

function wrk(seconds: number): number {
  const url = `http://127.0.0.1:${PROXY_PORT}/v1/chat/completions`;
  const script = path.join(ROOT, "bench/post.lua");
  const out = execFileSync("wrk", ["-t1", "-c50", `-d${seconds}s`, "-s", script, url], { encoding: "utf8" });
  return parseWrk(out, url).requests;
}

/** Profiles one target: the main thread's profile, the writer thread's (SQLite), and the requests served. */
async function profile(target: Target): Promise<{ main: CpuProfile; writer?: CpuProfile; requests: number }> {
  const dir = path.join(TMP, `${target}-profiles`);
  const proxy = start(target, dir);
  await waitPort(PROXY_PORT);
  const requests = wrk(2) + wrk(Number(opts.seconds));
  await new Promise((resolve) => {
    proxy.once("exit", resolve);
    proxy.kill("SIGTERM");
  });
  // One file per thread, named by thread id: the main thread's is the first (`.0.`), the writer's after it.
  const file = fs.readdirSync(dir).find((f) => /\.0\.\d+\.cpuprofile$/.test(f));
  if (!file) throw new Error(`${target}: no profile of the main thread in ${dir}`);
  const read = (f: string) => JSON.parse(fs.readFileSync(path.join(dir, f), "utf8")) as CpuProfile;
  const writer = fs.readdirSync(dir).find((f) => f !== file && f.endsWith(".cpuprofile"));
  return { main: read(file), writer: writer ? read(writer) : undefined, requests };
}

const NATIVE_WRITES = new Set(["writev", "writeString", "writeBuffer", "writeUtf8String"]);

/** What kind of work a sampled frame is. */
function kindOf(frame: { functionName: string; url: string }): string {
  const { functionName: name, url } = frame;
  if (name === "(idle)") return "idle";
  if (name === "(garbage collector)") return "garbage collector";
  if (name === "(program)") return "V8 and Node internals (program)";
  if (url.includes("/packages/")) return "intersebd's code";
  if (url.includes("/node_modules/")) return "dependencies";
  if (url.startsWith("node:")) return "Node's JavaScript (http, streams, events)";
  if (url === "" && NATIVE_WRITES.has(name)) return "socket and file writes";
  return "other native";
}

/** µs per request by kind and by function (self time). */
function summarise(p: CpuProfile, requests: number) {
  const nodes = new Map(p.nodes.map((n) => [n.id, n]));
  const byKind = new Map<string, number>();
  const byFunction = new Map<string, number>();
  p.samples.forEach((id, i) => {
    const frame = nodes.get(id)?.callFrame;
    if (!frame) return;
    const us = (p.timeDeltas[i + 1] ?? 0) / requests;
    const kind = kindOf(frame);
    byKind.set(kind, (byKind.get(kind) ?? 0) + us);
    if (kind === "idle") return;
    const where = frame.url.replace(/^.*?\/(packages|node_modules|bench)\//, "$1/");
    const name = `${frame.functionName || "(anonymous)"} ${where ? `${where}:${frame.lineNumber + 1}` : ""}`;
    byFunction.set(name, (byFunction.get(name) ?? 0) + us);
  });
  return { byKind, byFunction };
}

const rows = (m: Map<string, number>, n = Number.POSITIVE_INFINITY) =>
  [...m].sort((a, b) => b[1] - a[1]).slice(0, n);

const upstream = spawn(CLI, ["fake-upstream", "--port", String(UPSTREAM_PORT)], { env, stdio: "ignore" });
try {
  await waitPort(UPSTREAM_PORT);
  for (const target of opts.targets.split(",") as Target[]) {
    const { main, writer, requests } = await profile(target);
    for (const [thread, p] of [
      ["main thread", main],
      ["writer thread", writer],
    ] as const) {
      if (!p) continue;
      const { byKind, byFunction } = summarise(p, requests);
      const busy = [...byKind].filter(([k]) => k !== "idle").reduce((sum, [, us]) => sum + us, 0);
      console.log(`\n${target}: ${requests} requests; ${thread} ${busy.toFixed(1)} µs per request busy`);
      for (const [kind, us] of rows(byKind)) console.log(`  ${us.toFixed(1).padStart(7)} µs  ${kind}`);
      console.log("  top functions (self time):");
      for (const [name, us] of rows(byFunction, Number(opts.top)))
        console.log(`  ${us.toFixed(2).padStart(7)} µs  ${name}`);
    }
  }
} finally {
  upstream.kill();
  fs.rmSync(TMP, { recursive: true, force: true });
}
