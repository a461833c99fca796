/**
 * `intersebd experiments`: create, list, change, promote and roll back experiments, and read their report, on a
 * running intersebd through its REST API (`--url`, `INTERSEBD_URL`; `--key`, `INTERSEBD_API_KEY`: the SDKs'
 * variables), so that every change goes through the one place that records who made it.
 *
 *   intersebd experiments create --file titles.json
 *   intersebd experiments set titles --status running --weight control=50 --weight short=50 --by ana
 *   intersebd experiments show titles
 *   intersebd experiments promote titles --variant short --approved-by ana
 *   intersebd experiments rollback titles --by ana
 */
import Table from "cli-table3";
import { type Command, InvalidArgumentError, Option } from "commander";
import type { Experiment, ExperimentReport } from "../experiments/index.ts";
import { runCli, UsageError } from "./export.ts";
import { client, out, readJsonFile, type ServerFlags, serverOptions, usageCommand } from "./server-client.ts";

/** Parses `--weight variant=weight` flags. */
export function parseWeights(pairs: readonly string[]): Record<string, number> {
  const weights: Record<string, number> = {};
  for (const pair of pairs) {
    const m = /^([^=]+)=(.+)$/.exec(pair);
    const w = m ? Number(m[2]) : Number.NaN;
    if (!m || !Number.isFinite(w) || w < 0)
      throw new UsageError(`--weight "${pair}": expected variant=weight with a weight >= 0 (e.g. short=20)`);
    weights[(m[1] as string).trim()] = w;
  }
  return weights;
}

const collect = (value: string, previous: string[] = []) => [...previous, value];

const pct = (x: number | null) => (x === null ? "—" : `${(x * 100).toFixed(1)}%`);
/** Two significant digits, at least two decimals: rewards on any scale read alike. */
const num = (x: number | null) => {
  if (x === null) return "—";
  const d = x === 0 ? 2 : Math.min(6, Math.max(2, 1 - Math.floor(Math.log10(Math.abs(x)))));
  return x.toFixed(d);
};
const signedWith = (f: (x: number) => string) => (x: number) => (x > 0 ? `+${f(x)}` : f(x));
const usd = (x: number | null) =>
  x === null ? "—" : `$${x < 0.01 && x > 0 ? x.toPrecision(3) : x.toFixed(4)}`;
const ms = (x: number | null) => (x === null ? "—" : `${Math.round(x)} ms`);
const count = (n: number) => n.toLocaleString("en-US");

interface Est {
  n: number;
  estimate: number | null;
  low: number | null;
  high: number | null;
}

/** "0.38 [0.10, 0.66] n=4", the interval left out while there is too little data. */
function estimate(e: Est | undefined, f: (x: number | null) => string = num): string {
  if (!e || e.n === 0) return "—";
  const interval = e.low === null || e.high === null ? "" : ` [${f(e.low)}, ${f(e.high)}]`;
  return `${f(e.estimate)}${interval} n=${count(e.n)}`;
}

/** Is a metric a proportion (shown in percent)? */
const isRate = (metric: string) => metric === "errorRate" || metric.startsWith("check:");

/** The report as tables for a terminal. */
export function renderExperimentReport(r: ExperimentReport): string {
  const style = { head: [], border: [] };
  const level = `${Math.round((1 - r.alpha) * 1000) / 10}%`;
  const lines = [
    `experiment ${r.experiment}: ${r.status}, version ${r.version}, unit ${r.unit}, control ${r.control}`,
    `intervals: ${level} ${r.method}`,
  ];
  const variants = r.variants;
  const t = new Table({
    head: ["", ...variants.map((v) => (v.control ? `${v.name} (control)` : v.name))],
    style,
  });
  const row = (label: string, cell: (v: (typeof variants)[number]) => string) =>
    t.push([label, ...variants.map(cell)]);
  row("share", (v) => pct(v.share));
  row("units", (v) => count(v.units));
  row("calls (shadow)", (v) => `${count(v.calls)} (${count(v.shadowCalls)})`);
  const rewards = [...new Set(variants.flatMap((v) => v.rewards.map((x) => x.name)))];
  for (const name of rewards) row(`reward ${name}`, (v) => estimate(v.rewards.find((x) => x.name === name)));
  const checks = [...new Set(variants.flatMap((v) => v.checks.map((x) => x.name)))];
  for (const name of checks)
    row(`check ${name} (pass)`, (v) =>
      estimate(
        v.checks.find((x) => x.name === name),
        pct,
      ),
    );
  const judges = [...new Set(variants.flatMap((v) => v.pairwise.map((x) => x.judge)))];
  for (const judge of judges)
    row(`pairwise ${judge} (win/tie/loss)`, (v) => {
      const p = v.pairwise.find((x) => x.judge === judge);
      return p ? `${estimate(p)} ${p.wins}/${p.ties}/${p.losses}` : "—";
    });
  row("error rate", (v) => estimate(v.errorRate, pct));
  row("cost total / per call", (v) => `${usd(v.costUsd.total)} / ${usd(v.costUsd.perCall)}`);
  row("latency p50 / p95", (v) => `${ms(v.latencyMs.p50)} / ${ms(v.latencyMs.p95)}`);
  lines.push(t.toString());

  const diffs = variants.flatMap((v) => v.vsControl.map((d) => ({ variant: v.name, ...d })));
  if (diffs.length) {
    const d = new Table({
      head: [`vs ${r.control}`, "metric", "difference", `${level} CS`, "units", "verdict"],
      style,
    });
    for (const x of diffs) {
      const f = signedWith((y: number) => (isRate(x.metric) ? pct(y) : num(y)));
      const g = (y: number | null) => (y === null ? "—" : f(y));
      const verdict =
        x.verdict === "not yet known" && x.moreUnits !== null
          ? `not yet known (~${count(x.moreUnits)} more units)`
          : x.verdict;
      d.push([
        x.variant,
        x.metric,
        g(x.estimate),
        x.low === null ? "—" : `[${g(x.low)}, ${g(x.high)}]`,
        count(x.n),
        verdict,
      ]);
    }
    lines.push(d.toString());
  }

  const sr = r.sampleRatio;
  const split = Object.entries(sr.observed)
    .map(([v, n]) => `${v} ${count(n)} (expected ${pct(sr.expected[v] ?? 0)})`)
    .join(", ");
  lines.push(
    sr.pValue === null
      ? `sample ratio: ${split}; not checked (only while running)`
      : `sample ratio: ${split}; p = ${sr.pValue < 0.001 ? sr.pValue.toExponential(1) : sr.pValue.toFixed(3)}` +
          (sr.mismatch ? ": MISMATCH, units are not split as configured" : ", as configured"),
  );
  lines.push(`verdict: ${r.verdict.line}`);
  return `${lines.join("\n")}\n`;
}

function describe(e: Experiment): string {
  const total = e.variants.reduce((s, v) => s + v.weight, 0);
  const split = e.variants.map((v) => `${v.name} ${total ? Math.round((v.weight / total) * 1000) / 10 : 0}%`);
  return `${e.name}: ${e.status}, version ${e.version}, unit ${e.unit}; ${split.join(", ")}${
    e.promoted ? `; promoted ${e.promoted.variant} (approved by ${e.promoted.approvedBy})` : ""
  }`;
}

export function experimentsCommand(): Command {
  const cmd = usageCommand(
    "experiments",
    "A/B splits and shadow runs: create, change, read the report, promote with approval, roll back",
  );

  serverOptions(cmd.command("list").description("list experiments, newest first"))
    .option("--json", "print JSON")
    .action((flags: ServerFlags) =>
      runCli(async () => {
        const { experiments } = await client(flags)<{ experiments: Experiment[] }>("GET", "/experiments");
        if (flags.json) return out(JSON.stringify(experiments, null, 2));
        if (experiments.length === 0)
          return out("no experiments yet: intersebd experiments create --file def.json");
        for (const e of experiments) out(describe(e));
      }),
    );

  serverOptions(
    cmd
      .command("show <name>")
      .description(
        "the report: per variant units, calls, rewards, checks, pairwise, errors, cost and latency; differences " +
          "to the control with always-valid intervals and verdicts; the sample-ratio check",
      ),
  )
    .option(
      "--metric <metric>",
      "the verdict's metric: reward:<name>, check:<name>, pairwise:<judge>, errorRate",
    )
    .option("--alpha <alpha>", "1 - the intervals' level (default 0.05)", (v) => {
      const a = Number(v);
      if (!(a > 0 && a < 0.5))
        throw new InvalidArgumentError("expected a number between 0 and 0.5, e.g. 0.05");
      return a;
    })
    .option("--json", "print the report as JSON (GET /api/experiments/<name>/report)")
    .action((name: string, flags: ServerFlags & { metric?: string; alpha?: number }) =>
      runCli(async () => {
        const q = new URLSearchParams();
        if (flags.metric) q.set("metric", flags.metric);
        if (flags.alpha !== undefined) q.set("alpha", String(flags.alpha));
        const query = q.size ? `?${q}` : "";
        const report = await client(flags)<ExperimentReport>(
          "GET",
          `/experiments/${encodeURIComponent(name)}/report${query}`,
        );
        out(flags.json ? JSON.stringify(report, null, 2) : renderExperimentReport(report));
      }),
    );

  serverOptions(
    cmd
      .command("create")
      .description("create an experiment from a JSON definition (the body of POST /api/experiments)"),
  )
    .requiredOption("--file <file>", "the definition: a JSON file, or - for standard input")
    .option("--by <who>", "who creates it, when the file does not say (recorded)")
    .option("--json", "print the stored definition as JSON")
    .action((flags: ServerFlags & { file: string; by?: string }) =>
      runCli(async () => {
        const definition = readJsonFile(flags.file, "name, variants and by");
        if (flags.by !== undefined) definition.by ??= flags.by;
        if (definition.by === undefined)
          throw new UsageError(
            `--file ${flags.file}: say who creates it, with "by" in the file or --by <who>`,
          );
        const e = await client(flags)<Experiment>("POST", "/experiments", definition);
        out(flags.json ? JSON.stringify(e, null, 2) : `created ${describe(e)}`);
      }),
    );

  serverOptions(
    cmd
      .command("set <name>")
      .description(
        "change an experiment's status or weights (units keep their variant where the weights allow)",
      ),
  )
    .addOption(
      new Option("--status <status>", "the new status").choices(["draft", "shadow", "running", "stopped"]),
    )
    .option(
      "--weight <variant=weight>",
      "a new relative weight; repeatable (--weight control=80 --weight short=20)",
      collect,
    )
    .requiredOption("--by <who>", "who makes the change (recorded)")
    .option("--json", "print the stored definition as JSON")
    .action((name: string, flags: ServerFlags & { status?: string; weight?: string[]; by: string }) =>
      runCli(async () => {
        const weights = flags.weight?.length ? parseWeights(flags.weight) : undefined;
        if (!flags.status && !weights)
          throw new UsageError("nothing to change: give --status and/or --weight");
        const e = await client(flags)<Experiment>("POST", `/experiments/${encodeURIComponent(name)}`, {
          ...(flags.status ? { status: flags.status } : {}),
          ...(weights ? { weights } : {}),
          by: flags.by,
        });
        out(flags.json ? JSON.stringify(e, null, 2) : `changed ${describe(e)}`);
      }),
    );

  serverOptions(
    cmd
      .command("promote <name>")
      .description("send all matching traffic to a variant, with the name of the person who approved it"),
  )
    .requiredOption("--variant <variant>", "the variant to promote")
    .requiredOption("--approved-by <who>", "the person who approved the promotion (recorded)")
    .option("--comment <text>", "why (recorded)")
    .option("--json", "print the stored definition as JSON")
    .action((name: string, flags: ServerFlags & { variant: string; approvedBy: string; comment?: string }) =>
      runCli(async () => {
        const e = await client(flags)<Experiment>(
          "POST",
          `/experiments/${encodeURIComponent(name)}/promote`,
          {
            variant: flags.variant,
            approvedBy: flags.approvedBy,
            ...(flags.comment !== undefined ? { comment: flags.comment } : {}),
          },
        );
        out(flags.json ? JSON.stringify(e, null, 2) : `promoted ${describe(e)}`);
      }),
    );

  serverOptions(
    cmd
      .command("rollback <name>")
      .description("undo a promotion: the experiment stops and matching traffic goes back to the control"),
  )
    .requiredOption("--by <who>", "who rolls it back (recorded)")
    .option("--comment <text>", "why (recorded)")
    .option("--json", "print the stored definition as JSON")
    .action((name: string, flags: ServerFlags & { by: string; comment?: string }) =>
      runCli(async () => {
        const e = await client(flags)<Experiment>(
          "POST",
          `/experiments/${encodeURIComponent(name)}/rollback`,
          {
            by: flags.by,
            ...(flags.comment !== undefined ? { comment: flags.comment } : {}),
          },
        );
        out(flags.json ? JSON.stringify(e, null, 2) : `rolled back ${describe(e)}`);
      }),
    );

  return cmd;
}
