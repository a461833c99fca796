/**
 * `intersebd export`: writes judged calls as training JSONL straight from the store (same `--db`,
 * DATABASE_URL and INTERSEBD_DATA_DIR resolution as `serve`), with a progress bar and a summary of what was
 * written and what was dropped, and why.
 *
 *   intersebd export --format openai-sft --where 'reward >= 1' --out train.jsonl --split 0.1
 *     → train.jsonl (train) and train.validation.jsonl (about 10% of the sessions)
 *   intersebd export --format openai-dpo --out prefs.jsonl --manifest prefs.manifest.jsonl
 *     → prefs.jsonl, and line for line where each row came from (OpenAI files allow no extra keys)
 */

import { once } from "node:events";
import fs from "node:fs";
import type { Writable } from "node:stream";
import cliProgress from "cli-progress";
import { Command, Option } from "commander";
import type { z } from "zod";
import { ConfigError, loadConfig } from "../config/index.ts";
import {
  countComparisons,
  countSelection,
  dropReasons,
  type ExportPlan,
  type ExportReport,
  exportQuerySchema,
  exportRows,
  formatInfo,
  formats,
  groupKeys,
  manifestLine,
  type Part,
  planExport,
  SnapshotWriter,
} from "../exports/index.ts";
import { HttpError } from "../http/error.ts";
import { openStore, type Store } from "../store/index.ts";

/** A problem with what the user typed: printed as is, exit code 2. */
export class UsageError extends Error {
  override name = "UsageError";
}

const kebab = (s: string) => s.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

/** Filter flags shared by `export` and `datasets`, each named after its `GET /api/calls` query field. */
const selectionFlags: Array<[flag: string, key: string, help: string]> = [
  [
    "--where <expr>",
    "where",
    "annotation conditions: 'reward >= 1 and has correction' (see exports/README.md)",
  ],
  ["--from <time>", "from", "calls started at or after (ms or ISO 8601)"],
  ["--to <time>", "to", "calls started before"],
  ["--model <names>", "model", "requested or served model, comma-separated"],
  ["--upstream <names>", "upstream", "upstream names, comma-separated"],
  ["--status <code>", "status", "HTTP status"],
  ["--outcome <list>", "outcome", "ok, upstream_error, network_error, client_aborted, timeout"],
  ["--session <id>", "sessionId", "one session"],
  ["--user <id>", "userId", "one end user"],
  ["--tag <tag>", "tag", "calls with this tag"],
  ["--q <text>", "q", "text in the request or response"],
  ["--source <source>", "source", "how calls arrived: proxy, sdk, api"],
  ["--annotated <bool>", "annotated", "true: only annotated calls; false: only unannotated"],
  [
    "--name <annotation>",
    "name",
    "annotation name for --min-reward/--max-reward and the reward (default reward)",
  ],
  ["--min-reward <n>", "minReward", "an annotation (named --name) has numericReward >= n"],
  ["--max-reward <n>", "maxReward", "an annotation (named --name) has numericReward <= n"],
  ["--annotation-source <s>", "annotationSource", "an annotation from code, human, user or judge"],
  ["--has-correction <bool>", "hasCorrection", "only calls with (true) or without (false) a correction"],
  ["--has-comparison <bool>", "hasComparison", "only calls a pairwise choice names, or (false) none"],
];

export function addSelectionOptions(cmd: Command): Command {
  for (const [flag, , help] of selectionFlags) cmd.option(flag, help);
  return cmd;
}

/** The filter flags given, as the API's query fields (strings, as in a query string). */
export function selectionQuery(flags: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [flag, key] of selectionFlags) {
    const prop = (flag.split(" ")[0] as string)
      .slice(2)
      .replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
    const v = flags[prop];
    if (typeof v === "string") out[key] = v;
  }
  return out;
}

const flagOf = (key: string) => {
  const found = selectionFlags.find(([, k]) => k === key);
  return found ? (found[0].split(" ")[0] as string) : `--${kebab(key)}`;
};

/** Parses with a schema; a failure names the flag, not the API field. @throws UsageError */
export function parseFlags<S extends z.ZodType>(schema: S, value: unknown): z.infer<S> {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  if (issue?.code === "unrecognized_keys") throw new UsageError(`unknown option(s) ${issue.keys.join(", ")}`);
  const key = String(issue?.path[0] ?? "");
  throw new UsageError(`${key ? `${flagOf(key)}: ` : ""}${issue?.message ?? "invalid options"}`);
}

/** Opens the store as `serve` would. @throws UsageError for a bad configuration */
export async function openCliStore(flags: {
  db?: string;
  dataDir?: string;
}): Promise<{ store: Store; linkDepth: number }> {
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig(process.env, { db: flags.db, dataDir: flags.dataDir });
  } catch (err) {
    if (err instanceof ConfigError) throw new UsageError(err.message);
    throw err;
  }
  return { store: await openStore(config.db), linkDepth: config.linkDepth };
}

/** Runs a command body: usage problems exit 2, HTTP-style domain errors 1, with one line on stderr. */
export async function runCli(fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (err) {
    if (err instanceof UsageError || err instanceof HttpError) {
      process.stderr.write(`intersebd: ${err.message}\n`);
      process.exitCode = err instanceof UsageError || err.status === 400 ? 2 : 1;
      return;
    }
    const e = err as NodeJS.ErrnoException;
    const hint = e.code === "ECONNREFUSED" ? " (is PostgreSQL running at DATABASE_URL?)" : "";
    process.stderr.write(`intersebd: ${e.message ?? String(err)}${hint}\n`);
    process.exitCode = 1;
  }
}

/** Buffered JSONL writer that waits for the file when it is behind (flat memory on big exports). */
class LineWriter {
  readonly #out: Writable;
  readonly #owned: boolean;
  #buffer = "";
  constructor(out: Writable, owned: boolean) {
    this.#out = out;
    this.#owned = owned;
  }
  static file(path: string): LineWriter {
    return new LineWriter(fs.createWriteStream(path), true);
  }
  async write(line: string): Promise<void> {
    this.#buffer += `${line}\n`;
    if (this.#buffer.length >= 64 * 1024) await this.flush();
  }
  async flush(): Promise<void> {
    if (!this.#buffer) return;
    const chunk = this.#buffer;
    this.#buffer = "";
    if (!this.#out.write(chunk)) await once(this.#out, "drain");
  }
  async close(): Promise<void> {
    await this.flush();
    if (this.#owned) {
      this.#out.end();
      await once(this.#out, "finish");
    }
  }
}

/** `train.jsonl` → `train.validation.jsonl`; `out` → `out.validation.jsonl`. */
export function validationPath(file: string): string {
  return file.endsWith(".jsonl")
    ? `${file.slice(0, -".jsonl".length)}.validation.jsonl`
    : `${file}.validation.jsonl`;
}

const fmt = (n: number) => n.toLocaleString("en-US");

/** The human summary printed after an export. */
export function summary(report: ExportReport, files: Partial<Record<Part, string>>): string {
  const w = report.written;
  const where = (p: Part) => (files[p] ? ` → ${files[p]}` : "");
  const lines = [
    `intersebd export: ${report.format}: ${fmt(w.total)} rows written` +
      (report.split > 0
        ? ` (train ${fmt(w.train)}${where("train")}, validation ${fmt(w.validation)}${where("validation")})`
        : where("train")),
    `  looked at ${fmt(report.scanned.calls)} calls` +
      (report.scanned.comparisons ? ` and ${fmt(report.scanned.comparisons)} comparisons` : ""),
  ];
  const sources = Object.entries(report.bySource).map(([k, v]) => `${k} ${fmt(v ?? 0)}`);
  if (sources.length) lines.push(`  rows from: ${sources.join(", ")}`);
  if (report.droppedTotal === 0) lines.push("  dropped: none");
  else {
    lines.push(`  dropped ${fmt(report.droppedTotal)}:`);
    const entries = Object.entries(report.dropped) as Array<[keyof typeof dropReasons, number]>;
    const width = Math.max(...entries.map(([k]) => k.length));
    for (const [k, v] of entries)
      lines.push(`    ${k.padEnd(width)} ${fmt(v).padStart(8)}  ${dropReasons[k]}`);
  }
  return `${lines.join("\n")}\n`;
}

interface ExportFlags extends Record<string, unknown> {
  format: string;
  out?: string;
  manifest?: string;
  split?: string;
  groupBy?: string;
  threshold?: string;
  dataset?: string;
  db?: string;
  dataDir?: string;
  progress: boolean;
  json?: boolean;
}

async function runExport(flags: ExportFlags): Promise<void> {
  const q = parseFlags(exportQuerySchema, {
    ...selectionQuery(flags),
    format: flags.format,
    ...(flags.dataset !== undefined && { dataset: flags.dataset }),
    ...(flags.split !== undefined && { split: flags.split }),
    ...(flags.groupBy !== undefined && { groupBy: flags.groupBy }),
    ...(flags.threshold !== undefined && { threshold: flags.threshold }),
  });
  const split = q.split ?? 0;
  if (split > 0 && !flags.out)
    throw new UsageError("--split writes two files: give --out (e.g. --out train.jsonl)");
  if (flags.json && !flags.out)
    throw new UsageError("--json prints the report on stdout: give --out for the rows");
  const { store, linkDepth } = await openCliStore(flags);
  try {
    const plan = await planExport(store, q, linkDepth);
    const files: Partial<Record<Part, string>> = {};
    const writers: Partial<Record<Part, LineWriter>> = {};
    const manifests: Partial<Record<Part, LineWriter>> = {};
    if (flags.out) {
      files.train = flags.out;
      writers.train = LineWriter.file(flags.out);
      if (flags.manifest) manifests.train = LineWriter.file(flags.manifest);
      if (split > 0) {
        files.validation = validationPath(flags.out);
        writers.validation = LineWriter.file(files.validation);
        if (flags.manifest) manifests.validation = LineWriter.file(validationPath(flags.manifest));
      }
    } else {
      writers.train = new LineWriter(process.stdout, false);
      if (flags.manifest) manifests.train = LineWriter.file(flags.manifest);
    }
    const report = await writeExport(
      store,
      plan,
      writers,
      manifests,
      flags.progress && Boolean(process.stderr.isTTY),
    );
    for (const w of [...Object.values(writers), ...Object.values(manifests)]) await w?.close();
    if (flags.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    process.stderr.write(summary(report, files));
  } finally {
    await store.close();
  }
}

async function writeExport(
  store: Store,
  plan: ExportPlan,
  writers: Partial<Record<Part, LineWriter>>,
  manifests: Partial<Record<Part, LineWriter>>,
  progress: boolean,
): Promise<ExportReport> {
  const totals = { calls: 0, comparisons: 0 };
  const bar = progress
    ? new cliProgress.SingleBar(
        {
          format: "{phase} |{bar}| {percentage}% {value}/{total} | {rows} rows",
          stream: process.stderr,
          hideCursor: true,
          etaBuffer: 50,
        },
        cliProgress.Presets.shades_classic,
      )
    : null;
  let rows = 0;
  let phase = "";
  if (bar) {
    totals.calls = await countSelection(store, plan.options.selection);
    if (formatInfo[plan.options.format].kind === "preference")
      totals.comparisons = await countComparisons(store);
    bar.start(totals.calls, 0, { phase: "calls", rows });
  }
  const run = exportRows(store, {
    ...plan.options,
    onProgress: (p, done, total) => {
      if (!bar) return;
      if (p !== phase) {
        phase = p;
        bar.setTotal(
          p === "calls" ? totals.calls : p === "comparisons" ? totals.comparisons : (total ?? done),
        );
      }
      bar.update(done, { phase: p, rows });
    },
  });
  const lineNumbers: Record<Part, number> = { train: 0, validation: 0 };
  // Like the API, one snapshot per file written: the exact calls behind it.
  const snapshots: Partial<Record<Part, SnapshotWriter>> = {};
  if (plan.dataset) {
    for (const part of Object.keys(writers) as Part[]) {
      snapshots[part] = await SnapshotWriter.begin(store, plan.dataset, {
        purpose: "export",
        format: plan.options.format,
        params: { ...plan.params, part },
      });
    }
  }
  try {
    for await (const row of run.rows) {
      const w = writers[row.part];
      if (!w) continue;
      rows++;
      lineNumbers[row.part]++;
      await w.write(row.line);
      await manifests[row.part]?.write(manifestLine(lineNumbers[row.part], row));
      await snapshots[row.part]?.add(row.provenance.callIds);
    }
  } finally {
    bar?.stop();
  }
  for (const [part, snapshot] of Object.entries(snapshots)) await snapshot?.finish(lineNumbers[part as Part]);
  return run.report();
}

export function exportCommand(): Command {
  const cmd = new Command("export")
    .description(
      "write judged calls as training JSONL (formats: openai-sft, openai-dpo, trl-sft, trl-dpo, trl-kto, rewards)",
    )
    .addOption(new Option("-f, --format <format>", "training format").choices(formats).makeOptionMandatory())
    .option(
      "-o, --out <file>",
      "write rows here (default: stdout); with --split, validation goes to <file>.validation.jsonl",
    )
    .option(
      "--split <fraction>",
      "send about this fraction of the groups (sessions by default) to validation",
    )
    .addOption(new Option("--group-by <key>", "what one side of the split keeps together").choices(groupKeys))
    .option("--threshold <n>", "trl-kto: label = reward >= n (default 0.5)")
    .option("--dataset <name>", "a saved dataset; the filter flags narrow it further")
    .option("--manifest <file>", "also write each row's provenance (source, call ids), line for line")
    .option(
      "--db <url|file>",
      "postgres://... or a SQLite file (DATABASE_URL, default ./.intersebd/intersebd.sqlite)",
    )
    .option("--data-dir <dir>", "where the SQLite file lives (INTERSEBD_DATA_DIR, default ./.intersebd)")
    .option("--no-progress", "no progress bar (it is only drawn on a terminal anyway)")
    .option("--json", "print the report as JSON on stdout (needs --out)");
  addSelectionOptions(cmd);
  return cmd.action((flags: ExportFlags) => runCli(() => runExport(flags)));
}
