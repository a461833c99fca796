/**
 * `intersebd eval`: replay a dataset against a candidate, score it, and print the report.
 *
 * Two ways to run, one output:
 * - In-process (default): the command opens the store itself (`--db`, `DATABASE_URL`) and starts a server on
 *   an ephemeral loopback port (`startServer`, port 0), so the replayed calls go through the proxy and are
 *   logged and tagged like any other; its worker runs the items. The run lives in the store: if the command is
 *   killed, `intersebd eval --resume <id>` (or any `intersebd serve` on the same store) continues it. Like every
 *   server process, this one also works on other runs queued in the store while it is up.
 * - `--server URL`: a running intersebd does the work (its REST API and workers); the command creates the run,
 *   follows it and prints the report. Interrupting the command does not stop the run.
 */
import fs from "node:fs";
import path from "node:path";
import readline from "node:readline/promises";
import cliProgress from "cli-progress";
import Table from "cli-table3";
import { Command, InvalidArgumentError } from "commander";
import { ConfigError, type ConfigOverrides, loadConfig } from "../config/index.ts";
import {
  type CheckDef,
  type CreateEvalInput,
  computeGroupReport,
  createEvalSchema,
  type Estimate,
  enforceMaxCost,
  type GroupReport,
  loadChecksFile,
  type Progress,
  parseInput,
  progressOf,
  type Report,
  type RunView,
  resumeRun,
  runState,
  startEvaluation,
  startGroup,
} from "../evals/index.ts";
import { HttpError } from "../http/error.ts";
import { startServer } from "../server.ts";
import { createLogger } from "../util/log.ts";
import { CALIBRATED_MIN } from "../views/index.ts";

interface EvalFlags extends ConfigOverrides {
  dataset?: string;
  calls?: string;
  candidate?: string[];
  candidates?: string;
  check?: string[];
  checks?: string;
  judge?: string;
  rubric?: string;
  concurrency?: number;
  seed?: number;
  yes?: boolean;
  maxCost?: number;
  json?: boolean;
  resume?: string;
  server?: string;
  apiKey?: string;
}

export interface RunState {
  run: RunView;
  progress: Progress;
  report: Report;
}

const collect = (value: string, previous: string[] = []) => [...previous, value];

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError("expected a whole number >= 1");
  return n;
}

function nonNegative(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError("expected a number >= 0");
  return n;
}

/** `@file` reads the file; anything else is the text itself. */
const textOrFile = (v: string) => (v.startsWith("@") ? fs.readFileSync(v.slice(1), "utf8") : v);

/**
 * Parses `--candidate key=value` flags: `model`, `upstream`, `system` (text or `@file`), `header.<name>`;
 * any other key is a request parameter whose value is read as JSON when it parses (`temperature=0.2`).
 */
export function parseCandidate(pairs: string[]): CreateEvalInput["candidate"] {
  const c: CreateEvalInput["candidate"] = {};
  for (const pair of pairs) {
    const eq = pair.indexOf("=");
    if (eq <= 0) throw new UsageError(`--candidate "${pair}": expected key=value (e.g. model=gpt-4.1-mini)`);
    const key = pair.slice(0, eq).trim();
    const value = pair.slice(eq + 1);
    if (key === "model") c.model = value;
    else if (key === "upstream") c.upstream = value;
    else if (key === "system" || key === "systemPrompt") c.systemPrompt = textOrFile(value);
    else if (key.startsWith("header.")) c.headers = { ...c.headers, [key.slice("header.".length)]: value };
    else {
      let v: unknown = value;
      try {
        v = JSON.parse(value);
      } catch {}
      c.params = { ...c.params, [key]: v };
    }
  }
  return c;
}

const NAMED_PAIR = /^([A-Za-z0-9_.-]+):((?:[^=]+=[\s\S]*)?)$/;

/**
 * Parses the candidates of a group: `--candidates <file.json>` (an array of `{ name, ...candidate }`) or
 * `--candidate <name>:<key>=<value>` flags, grouped by name in the order the names first appear. Undefined when
 * neither is given (one candidate, as `parseCandidate` reads it).
 */
export function parseCandidates(pairs: string[], file?: string): unknown[] | undefined {
  if (file) {
    if (pairs.length) throw new UsageError("give --candidates <file> or --candidate flags, not both");
    let v: unknown;
    try {
      v = JSON.parse(fs.readFileSync(file, "utf8"));
    } catch (err) {
      throw new UsageError(`--candidates ${file}: ${(err as Error).message}`);
    }
    if (!Array.isArray(v)) throw new UsageError(`--candidates ${file}: expected a JSON array of candidates`);
    return v;
  }
  const named = pairs.map((p) => NAMED_PAIR.exec(p));
  if (!named.some(Boolean)) return undefined;
  const i = named.findIndex((m) => !m);
  if (i >= 0)
    throw new UsageError(
      `--candidate "${pairs[i]}": with several candidates, name each pair (name:key=value)`,
    );
  const byName = new Map<string, string[]>();
  for (const m of named as RegExpExecArray[]) {
    const name = m[1] as string;
    byName.set(name, [...(byName.get(name) ?? []), m[2] as string]);
  }
  // `current:` alone names a candidate with no change: the logged setup.
  return [...byName].map(([name, kv]) => ({ name, ...parseCandidate(kv.filter(Boolean)) }));
}

/** Parses `--judge mode:model[@upstream]`, e.g. `pairwise:gpt-4.1` or `absolute:gpt-4.1@openrouter`. */
export function parseJudge(spec: string, rubric?: string): NonNullable<CreateEvalInput["judge"]> {
  const m = /^(absolute|pairwise):([^@]+)(?:@(.+))?$/.exec(spec.trim());
  if (!m)
    throw new UsageError(
      `--judge "${spec}": expected absolute:<model> or pairwise:<model>, optionally @<upstream>`,
    );
  return {
    mode: m[1] as "absolute" | "pairwise",
    model: m[2] as string,
    ...(m[3] ? { upstream: m[3] } : {}),
    ...(rubric ? { rubric: textOrFile(rubric) } : {}),
  };
}

class UsageError extends Error {}

const pct = (x: number | null) => (x === null ? "—" : `${(x * 100).toFixed(1)}%`);
const ci = (c: [number, number] | null, f: (x: number) => string) => (c ? `[${f(c[0])}, ${f(c[1])}]` : "—");
const num = (x: number | null, digits = 2) => (x === null ? "—" : x.toFixed(digits));
const usd = (x: number | null) => (x === null ? "—" : `$${x < 0.01 ? x.toPrecision(3) : x.toFixed(4)}`);
const ms = (x: number | null) => (x === null ? "—" : `${Math.round(x)} ms`);

/** The report as tables for a terminal. `baseUrl` turns call paths into links. */
export function renderReport(state: RunState, baseUrl = ""): string {
  const { run, report } = state;
  const out: string[] = [];
  const style = { head: [], border: [] };
  out.push(
    `evaluation ${run.id}: ${run.status}, ${report.items.done} done, ${report.items.failed} failed of ${report.items.total}` +
      `${run.dataset ? ` (dataset ${run.dataset})` : ""}; candidate ${JSON.stringify(run.candidate)}`,
  );
  if (report.checks.length) {
    const t = new Table({ head: ["check", "pass rate", "95% CI", "passed", "failed", "n/a"], style });
    for (const c of report.checks)
      t.push([
        c.name,
        pct(c.passRate.rate),
        ci(c.passRate.ci, pct),
        c.passed,
        c.failed,
        c.skipped + c.errors,
      ]);
    out.push(t.toString());
  }
  for (const j of report.judges) {
    if (j.mode === "absolute") {
      const t = new Table({
        head: [`judge ${j.name} (${j.model}, ${j.scale[0]}–${j.scale[1]})`, "mean", "95% CI", "n"],
        style,
      });
      // The judge's agreement with people comes first: its scores are worth reading only once it is known.
      t.push([
        "agreement with humans",
        pct(j.agreement.rate.rate),
        ci(j.agreement.rate.ci, pct),
        `${j.agreement.n}${j.agreement.kappa === null ? "" : `, κ ${j.agreement.kappa.toFixed(2)}`}`,
      ]);
      t.push(["candidate", num(j.candidate.mean), ci(j.candidate.ci, (x) => num(x)), j.candidate.n]);
      t.push(["baseline", num(j.baseline.mean), ci(j.baseline.ci, (x) => num(x)), j.baseline.n]);
      t.push(["difference", num(j.difference.mean), ci(j.difference.ci, (x) => num(x)), j.difference.n]);
      out.push(t.toString());
      if (j.agreement.n < CALIBRATED_MIN)
        out.push(
          `judge ${j.name}: not yet calibrated: n < ${CALIBRATED_MIN} (${j.agreement.n} answers with a human label of that name)`,
        );
    } else {
      const t = new Table({
        head: [`pairwise ${j.name} (${j.model}) vs baseline`, "rate", "95% CI", "n"],
        style,
      });
      t.push(["win", pct(j.win.rate), ci(j.win.ci, pct), j.wins]);
      t.push(["tie", pct(j.tie.rate), ci(j.tie.ci, pct), j.ties]);
      t.push(["loss", pct(j.loss.rate), ci(j.loss.ci, pct), j.losses]);
      out.push(t.toString());
    }
  }
  const t = new Table({ head: ["", "baseline", "candidate"], style });
  const { cost, latency } = report;
  t.push([
    "cost mean / p50 / p95",
    `${usd(cost.baseline.mean)} / ${usd(cost.baseline.p50)} / ${usd(cost.baseline.p95)}`,
    `${usd(cost.candidate.mean)} / ${usd(cost.candidate.p50)} / ${usd(cost.candidate.p95)}`,
  ]);
  t.push([
    "cost total",
    usd(cost.baseline.total),
    `${usd(cost.candidate.total)} (+ judges ${usd(cost.judgeTotalUsd)})`,
  ]);
  t.push([
    "latency mean / p50 / p95",
    `${ms(latency.baseline.mean)} / ${ms(latency.baseline.p50)} / ${ms(latency.baseline.p95)}`,
    `${ms(latency.candidate.mean)} / ${ms(latency.candidate.p50)} / ${ms(latency.candidate.p95)}`,
  ]);
  out.push(t.toString());
  if (report.worst.length) {
    out.push("worst items:");
    for (const w of report.worst) {
      const why = [
        ...(w.error ? [`failed: ${w.error}`] : []),
        ...w.failedChecks.map((f) => `${f.name}${f.reason ? ` (${f.reason})` : ""}`),
        ...(w.pairwise ?? []).filter((p) => p.outcome === "loss").map((p) => `${p.name}: loss`),
      ];
      out.push(
        `  #${w.index} ${w.candidateUrl ? baseUrl + w.candidateUrl : "(no candidate call)"} vs ${baseUrl}${w.baselineUrl}: ${why.join("; ")}`,
      );
    }
  }
  return `${out.join("\n")}\n`;
}

/** A group's report as tables: the candidates by rank, the best line, then each pair's differences. */
export function renderGroupReport(g: GroupReport): string {
  const out: string[] = [];
  const style = { head: [], border: [] };
  out.push(
    `evaluation group ${g.group}: ${g.status}, ${g.candidates.length} candidates, ${g.items.common} of ${g.items.total} items answered by all` +
      `${g.dataset ? ` (dataset ${g.dataset})` : ""}; ranked by ${g.ranking.describe}`,
  );
  const ranked = [...g.candidates].sort((a, b) => a.rank - b.rank);
  const first = ranked[0];
  const t = new Table({
    head: [
      "#",
      "candidate",
      `${g.ranking.metric} (95% CI)`,
      ...(first?.checks ?? []).map((c) => c.name),
      ...(first?.judges ?? []).map((j) => `${j.name} (${j.mode})`),
      "cost mean",
      "latency p50",
      "run",
    ],
    style,
  });
  for (const c of ranked)
    t.push([
      c.rank,
      c.name,
      `${num(c.score.mean, 3)} ${ci(c.score.ci, (x) => num(x, 3))}`,
      ...c.checks.map((x) => pct(x.passRate.rate)),
      ...c.judges.map((j) => num(j.mean.mean, 3)),
      usd(c.cost.mean),
      ms(c.latency.p50),
      c.run.id,
    ]);
  out.push(t.toString());
  out.push(g.best.line);
  if (g.comparisons.length) {
    const metrics = g.comparisons[0]?.differences.map((d) => d.metric) ?? [];
    const d = new Table({ head: ["a − b", ...metrics], style });
    for (const c of g.comparisons)
      d.push([
        `${c.a} − ${c.b}`,
        ...c.differences.map((x) =>
          x.metric === "cost"
            ? `${usd(x.mean)} ${ci(x.ci, (v) => usd(v))}`
            : `${num(x.mean, 3)} ${ci(x.ci, (v) => num(v, 3))}`,
        ),
      ]);
    out.push(d.toString());
  }
  return `${out.join("\n")}\n`;
}

function describeEstimate(e: Estimate): string {
  const parts = [`${e.items} items`];
  if (e.totalUsd !== null) parts.push(`estimated cost $${e.totalUsd}`);
  else
    parts.push(
      `estimated cost unknown (no price for ${e.unpricedModels.join(", ")}; priced part $${e.knownUsd})`,
    );
  if (e.skipped.length) parts.push(`${e.skipped.length} calls skipped (no stored request)`);
  return parts.join(", ");
}

async function confirm(question: string): Promise<boolean> {
  const rl = readline.createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await rl.question(question)).trim());
  } finally {
    rl.close();
  }
}

/** Follows a run until it ends, with a progress bar on a terminal. */
async function follow(read: () => Promise<Progress & { status: string }>, quiet: boolean): Promise<void> {
  const bar =
    !quiet && process.stderr.isTTY
      ? new cliProgress.SingleBar(
          {
            format: "eval {bar} {value}/{total} items | {failed} failed | {duration_formatted}",
            stream: process.stderr,
            hideCursor: true,
          },
          cliProgress.Presets.shades_classic,
        )
      : undefined;
  let started = false;
  for (;;) {
    const p = await read();
    if (bar && !started) {
      bar.start(p.total, p.done + p.failed, { failed: p.failed });
      started = true;
    }
    bar?.update(p.done + p.failed, { failed: p.failed });
    if (p.status !== "queued" && p.status !== "running") break;
    await new Promise((r) => setTimeout(r, 250));
  }
  bar?.stop();
}

function buildInput(flags: EvalFlags, declared: ReadonlyMap<string, CheckDef>, inline: boolean): unknown {
  const checks = flags.check?.length ? flags.check : flags.checks ? [...declared.keys()] : undefined;
  const candidates = parseCandidates(flags.candidate ?? [], flags.candidates);
  return {
    ...(flags.dataset ? { dataset: flags.dataset } : {}),
    ...(flags.calls
      ? {
          callIds: flags.calls
            .split(",")
            .map((s) => s.trim())
            .filter(Boolean),
        }
      : {}),
    ...(candidates ? { candidates } : { candidate: parseCandidate(flags.candidate ?? []) }),
    // A server resolves names against its own checks file; a file given here is sent as definitions.
    ...(checks ? { checks: inline ? checks.map((c) => declared.get(c) ?? c) : checks } : {}),
    ...(flags.judge ? { judge: parseJudge(flags.judge, flags.rubric) } : {}),
    ...(flags.concurrency ? { concurrency: flags.concurrency } : {}),
    ...(flags.seed !== undefined ? { seed: flags.seed } : {}),
    ...(flags.maxCost !== undefined ? { maxCostUsd: flags.maxCost } : {}),
  };
}

async function mayStart(estimate: Estimate, flags: EvalFlags): Promise<boolean> {
  if (!flags.json) process.stderr.write(`intersebd eval: ${describeEstimate(estimate)}\n`);
  if (flags.yes) return true;
  if (!process.stdin.isTTY) throw new UsageError("not a terminal: pass --yes to start without confirmation");
  return confirm("start? [y/N] ");
}

function printResult(state: RunState, flags: EvalFlags, baseUrl: string): void {
  if (flags.json) process.stdout.write(`${JSON.stringify(state)}\n`);
  else process.stdout.write(renderReport(state, baseUrl));
}

async function inProcess(flags: EvalFlags): Promise<number> {
  const config = loadConfig(process.env, { db: flags.db, upstream: flags.upstream, dataDir: flags.dataDir });
  // An ephemeral loopback server: the replayed calls go through this process's own proxy.
  config.port = 0;
  config.host = "127.0.0.1";
  config.publicUrl = undefined;
  if (flags.checks) config.checksFile = path.resolve(flags.checks);
  const declared = config.checksFile ? loadChecksFile(config.checksFile) : new Map<string, CheckDef>();
  const server = await startServer(config, {
    log: createLogger(config.logLevel === "info" ? "warn" : config.logLevel),
  });
  const { store } = server.ctx;
  let interrupted = false;
  let runId: string | undefined;
  const onSignal = () => {
    if (interrupted) return;
    interrupted = true;
    process.stderr.write(
      `\nintersebd eval: interrupted; items in flight are handed back.${runId ? ` Resume with: intersebd eval --resume ${runId}` : ""}\n`,
    );
    // Stop the worker first: it aborts its calls, so closing the server does not wait for them to finish.
    void (async () => {
      await server.evalWorker.stop();
      await server.close();
      process.exit(130);
    })();
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  try {
    let run: RunView;
    if (flags.resume) {
      run = await resumeRun(store, flags.resume);
      if (run.needsCode)
        throw new UsageError(
          `run ${run.id} has checks written in code: resume it with runEvaluation({ resume })`,
        );
    } else {
      const body = parseInput(createEvalSchema, buildInput(flags, declared, false));
      if (body.candidates) return await groupInProcess(server, body, declared, flags);
      // Estimate without recording anything: the dataset's snapshot is taken only when the run starts. Over
      // the cost cap, the command stops before asking.
      const { estimate } = await startEvaluation(server.ctx, body, { declared, dryRun: true });
      enforceMaxCost(estimate, body.maxCostUsd);
      if (!(await mayStart(estimate, flags))) return 1;
      ({ run } = await startEvaluation(server.ctx, body, { declared, worker: server.evalWorker }));
    }
    runId = run.id;
    if (!flags.json) process.stderr.write(`intersebd eval: run ${run.id}\n`);
    // A resumed run wakes the worker here; a new one was woken as it started.
    if (flags.resume) server.evalWorker.poke();
    await follow(async () => {
      const [p, r] = await Promise.all([progressOf(store, run.id), statusOf(store, run.id)]);
      return { ...p, status: r };
    }, Boolean(flags.json));
    const state = await runState(store, run.id);
    printResult(state, flags, "");
    return state.run.status === "done" ? 0 : 1;
  } finally {
    if (!interrupted) await server.close();
  }
}

/** `--candidate name:...` or `--candidates`: one run per candidate, followed together, the group's tables. */
async function groupInProcess(
  server: Awaited<ReturnType<typeof startServer>>,
  body: CreateEvalInput,
  declared: ReadonlyMap<string, CheckDef>,
  flags: EvalFlags,
): Promise<number> {
  const { store } = server.ctx;
  const { estimate } = await startGroup(server.ctx, body, { declared, dryRun: true });
  enforceMaxCost(estimate, body.maxCostUsd);
  if (!(await mayStart(estimate, flags))) return 1;
  const { group, runs } = await startGroup(server.ctx, body, { declared, worker: server.evalWorker });
  if (!flags.json)
    process.stderr.write(`intersebd eval: group ${group}, runs ${runs.map((r) => r.id).join(", ")}\n`);
  await follow(async () => {
    const parts = await Promise.all(
      runs.map(async (r) => ({ ...(await progressOf(store, r.id)), status: await statusOf(store, r.id) })),
    );
    const active = parts.some((p) => p.status === "queued" || p.status === "running");
    return {
      total: parts.reduce((n, p) => n + p.total, 0),
      done: parts.reduce((n, p) => n + p.done, 0),
      failed: parts.reduce((n, p) => n + p.failed, 0),
      pending: parts.reduce((n, p) => n + p.pending, 0),
      running: parts.reduce((n, p) => n + p.running, 0),
      status: active ? "running" : "done",
    };
  }, Boolean(flags.json));
  const report = await computeGroupReport(store, group as string);
  process.stdout.write(flags.json ? `${JSON.stringify(report)}\n` : renderGroupReport(report));
  return report.status === "done" ? 0 : 1;
}

async function statusOf(store: Parameters<typeof progressOf>[0], id: string): Promise<string> {
  const r = await store.db.selectFrom("evalRuns").select("status").where("id", "=", id).executeTakeFirst();
  return r?.status ?? "missing";
}

async function viaServer(flags: EvalFlags): Promise<number> {
  const base = (flags.server as string).replace(/\/+$/, "");
  const key = flags.apiKey ?? process.env.INTERSEBD_API_KEY;
  const call = async <T>(method: string, p: string, body?: unknown): Promise<T> => {
    const res = await fetch(`${base}/api${p}`, {
      method,
      headers: { "content-type": "application/json", ...(key ? { "x-intersebd-key": key } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const json = (await res.json().catch(() => ({}))) as { error?: { message?: string; field?: string } };
    if (!res.ok) throw new HttpError(res.status, json.error?.message ?? `HTTP ${res.status}`);
    return json as T;
  };
  let id: string;
  if (flags.resume) {
    id = flags.resume;
    try {
      await call("POST", `/evals/${id}/resume`);
    } catch (err) {
      if (!(err instanceof HttpError && err.status === 409)) throw err;
    }
  } else {
    const declared = flags.checks ? loadChecksFile(path.resolve(flags.checks)) : new Map<string, CheckDef>();
    const input = buildInput(flags, declared, true) as Record<string, unknown>;
    const dry = await call<{ estimate: Estimate }>("POST", "/evals", { ...input, dryRun: true });
    if (!(await mayStart(dry.estimate, flags))) return 1;
    if (input.candidates) {
      const { group } = await call<{ group: string }>("POST", "/evals", input);
      if (!flags.json) process.stderr.write(`intersebd eval: group ${group} on ${base}\n`);
      let report: GroupReport | undefined;
      await follow(async () => {
        report = await call<GroupReport>("GET", `/evals/groups/${group}`);
        const p = report.candidates.map((c) => c.progress);
        const sum = (k: keyof Progress) => p.reduce((n, x) => n + x[k], 0);
        return {
          total: sum("total"),
          done: sum("done"),
          failed: sum("failed"),
          pending: sum("pending"),
          running: sum("running"),
          status: report.status,
        };
      }, Boolean(flags.json));
      report = await call<GroupReport>("GET", `/evals/groups/${group}`);
      process.stdout.write(flags.json ? `${JSON.stringify(report)}\n` : renderGroupReport(report));
      return report.status === "done" ? 0 : 1;
    }
    id = (await call<{ id: string }>("POST", "/evals", input)).id;
  }
  if (!flags.json) process.stderr.write(`intersebd eval: run ${id} on ${base}\n`);
  process.on("SIGINT", () => {
    process.stderr.write(
      `\nintersebd eval: the run continues on the server; cancel it with POST ${base}/api/evals/${id}/cancel\n`,
    );
    process.exit(130);
  });
  let state: RunState | undefined;
  await follow(async () => {
    state = await call<RunState>("GET", `/evals/${id}`);
    return { ...state.progress, status: state.run.status };
  }, Boolean(flags.json));
  state = await call<RunState>("GET", `/evals/${id}`);
  printResult(state, flags, base);
  return state.run.status === "done" ? 0 : 1;
}

export function evalCommand(): Command {
  return new Command("eval")
    .description(
      "replay a dataset against a candidate model, score it with checks and LLM judges, and report it against the logged baseline",
    )
    .option("--dataset <name>", "a saved dataset to replay")
    .option("--calls <ids>", "comma-separated baseline call ids (instead of a dataset)")
    .option(
      "--candidate <key=value>",
      "model=, upstream=, system=<text|@file>, header.<name>=, or a request parameter (temperature=0.2); repeatable",
      collect,
    )
    .option(
      "--candidates <file.json>",
      "several candidates, one report: a JSON array of { name, model?, upstream?, systemPrompt?, params?, headers? } (or --candidate <name>:<key>=<value>, repeatable)",
    )
    .option(
      "--check <spec>",
      "json-schema | regex:<pattern> | equals | contains | moderation | floor:<judge model> | 'cost <= 0.01' | 'latencyMs <= 2000' | 'tokens.completion <= 500' | a name from --checks; repeatable",
      collect,
    )
    .option(
      "--checks <file.json>",
      "checks file (INTERSEBD_CHECKS_FILE); without --check, all of its checks run",
    )
    .option("--judge <mode:model[@upstream]>", "an LLM judge: pairwise:gpt-4.1 or absolute:gpt-4.1")
    .option("--rubric <text|@file>", "what the judge looks for")
    .option("--concurrency <n>", "items at once (default 4)", positiveInt)
    .option("--seed <n>", "seed of the pairwise order (default random)", (v) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError("expected a whole number >= 0");
      return n;
    })
    .option("-y, --yes", "start without confirming the cost estimate")
    .option("--max-cost <usd>", "refuse to start when the estimate is higher (or unknown)", nonNegative)
    .option("--json", "print the run, progress and report as JSON")
    .option("--resume <runId>", "continue an interrupted or cancelled run")
    .option("--server <url>", "let a running intersebd do the work instead of this process")
    .option("--api-key <key>", "the server's API key, with --server (INTERSEBD_API_KEY)")
    .option("--db <url|file>", "postgres://... or a SQLite file (DATABASE_URL)")
    .option("-u, --upstream <url|name=url>", "upstream(s), as for serve; repeatable", collect)
    .option("--data-dir <dir>", "data directory (INTERSEBD_DATA_DIR)")
    .action(async (flags: EvalFlags) => {
      if (!flags.resume && !flags.dataset && !flags.calls) {
        process.stderr.write("intersebd eval: give --dataset <name>, --calls <ids> or --resume <runId>\n");
        process.exit(2);
      }
      let code: number;
      try {
        code = flags.server ? await viaServer(flags) : await inProcess(flags);
      } catch (err) {
        if (err instanceof UsageError || err instanceof ConfigError || err instanceof HttpError) {
          process.stderr.write(`intersebd eval: ${err.message}\n`);
          process.exit(2);
        }
        throw err;
      }
      process.exit(code);
    });
}
