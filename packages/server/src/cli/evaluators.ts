/**
 * `intersebd evaluators`: list, create and backfill live evaluators on a running intersebd through its REST API
 * (`--url`, `INTERSEBD_URL`; `--key`, `INTERSEBD_API_KEY`), as `intersebd experiments` does.
 *
 *   intersebd evaluators create --file json-answers.json
 *   intersebd evaluators list
 *   intersebd evaluators backfill json-answers --from 2025-01-01T00:00:00Z --to 2025-01-08T00:00:00Z
 */
import type { Command } from "commander";
import type { EvaluatorView } from "../live/index.ts";
import { runCli, UsageError } from "./export.ts";
import { client, out, readJsonFile, type ServerFlags, serverOptions, usageCommand } from "./server-client.ts";

/** One line per evaluator: what it evaluates and where its jobs stand. */
export function describeEvaluator(e: EvaluatorView): string {
  const c = e.counters;
  const cap = e.dailyCostUsd === undefined ? "" : ` of $${e.dailyCostUsd}`;
  return (
    `${e.name} (${e.id}): ${e.enabled ? "enabled" : "paused"}, sample ${e.sample}, filter ${JSON.stringify(e.filter)}; ` +
    `queued ${c.queued}, running ${c.running}, done ${c.done}, failed ${c.failed}, skipped by cap ${c.skippedByCap}, ` +
    `cost today $${c.costTodayUsd.toFixed(4)}${cap}`
  );
}

/** A time flag: ms since epoch or an ISO 8601 date-time, as the API takes it. */
function timeFlag(flag: string, v: string | undefined): number | string {
  if (v === undefined) throw new UsageError(`${flag} is required (ms since epoch or ISO 8601)`);
  return /^\d+$/.test(v) ? Number(v) : v;
}

export function evaluatorsCommand(): Command {
  const cmd = usageCommand(
    "evaluators",
    "live evaluators: checks and judges run on new calls as they arrive, and on a backfilled range",
  );

  serverOptions(cmd.command("list").description("list live evaluators with their counters"))
    .option("--json", "print JSON")
    .action((flags: ServerFlags) =>
      runCli(async () => {
        const { evaluators } = await client(flags)<{ evaluators: EvaluatorView[] }>("GET", "/evaluators");
        if (flags.json) return out(JSON.stringify(evaluators, null, 2));
        if (evaluators.length === 0)
          return out("no evaluators yet: intersebd evaluators create --file rule.json");
        for (const e of evaluators) out(describeEvaluator(e));
      }),
    );

  serverOptions(
    cmd
      .command("create")
      .description(
        "create one from a JSON file (- for standard input): name, filter, sample, checks, judge...",
      ),
  )
    .requiredOption("--file <file>", "the evaluator as JSON (POST /api/evaluators)")
    .option("--json", "print JSON")
    .action((flags: ServerFlags & { file: string }) =>
      runCli(async () => {
        const body = readJsonFile(flags.file, "name, filter, sample and checks or judge");
        const e = await client(flags)<EvaluatorView>("POST", "/evaluators", body);
        out(flags.json ? JSON.stringify(e, null, 2) : describeEvaluator(e));
      }),
    );

  serverOptions(
    cmd.command("backfill <id>").description("evaluate the matching calls of a time range (by id or name)"),
  )
    .option("--from <time>", "calls started at or after (ms or ISO 8601)")
    .option("--to <time>", "and before")
    .action((id: string, flags: ServerFlags & { from?: string; to?: string }) =>
      runCli(async () => {
        const r = await client(flags)<{ scanned: number; enqueued: number }>(
          "POST",
          `/evaluators/${encodeURIComponent(id)}/backfill`,
          { from: timeFlag("--from", flags.from), to: timeFlag("--to", flags.to) },
        );
        out(
          `${r.enqueued} calls enqueued of ${r.scanned} matching (the rest were evaluated or queued already)`,
        );
      }),
    );
  return cmd;
}
