/**
 * `intersebd conversations`: start a conversation evaluation and read its report on a running intersebd through
 * its REST API (`--url`, `INTERSEBD_URL`; `--key`, `INTERSEBD_API_KEY`), as `intersebd experiments` does.
 *
 *   intersebd conversations eval --file pirates.json --max-cost-usd 2 --wait
 *   intersebd conversations show conv_…
 */
import { setTimeout as sleep } from "node:timers/promises";
import Table from "cli-table3";
import { type Command, InvalidArgumentError } from "commander";
import type { ConversationEvalReport } from "../conversations/index.ts";
import { runCli } from "./export.ts";
import { client, out, readJsonFile, type ServerFlags, serverOptions, usageCommand } from "./server-client.ts";

const usd = (x: number | null) =>
  x === null ? "unknown" : `$${x < 0.01 && x > 0 ? x.toPrecision(3) : x.toFixed(4)}`;
const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
const interval = (r: [number, number] | null) => (r ? `[${pct(r[0])}, ${pct(r[1])}]` : "—");

/** The report as lines and tables for a terminal: progress, cost, each source's cells and ranking, the caveat. */
export function renderConversationReport(r: ConversationEvalReport): string {
  const style = { head: [], border: [] };
  const p = r.progress;
  const lines = [
    `conversation evaluation ${r.id}: ${r.status}; ${p.total} items: ${p.done} done, ${p.failed} failed, ` +
      `${p.skipped} skipped, ${p.pending + p.running} to run`,
    `cost: ${usd(r.cost.spentUsd)} spent` +
      (r.cost.unpricedCalls ? ` (and ${r.cost.unpricedCalls} calls without a known price)` : "") +
      `; estimate ${usd(r.cost.estimateUsd)}; cap ${r.cost.maxCostUsd === null ? "none" : usd(r.cost.maxCostUsd)}` +
      (r.cost.capReached ? ": REACHED, items left unrun were skipped" : ""),
  ];
  for (const res of r.results) {
    const who = res.source === "judge" ? `judge ${r.definition.judge.model}` : "people";
    lines.push(`${who}: ${res.comparisons} comparisons with the original`);
    if (res.comparisons === 0) continue;
    const t = new Table({
      head: ["candidate", "criterion", "context", "win / tie / loss", "win rate (95%)"],
      style,
    });
    for (const c of res.candidates)
      for (const crit of c.criteria)
        for (const cell of crit.byContext)
          t.push([
            c.candidate,
            crit.criterion,
            cell.contextLength === null ? "whole slice" : `last ${cell.contextLength} turns`,
            `${cell.wins} / ${cell.ties} / ${cell.losses}`,
            cell.n ? `${pct(cell.wins / cell.n)} ${interval(cell.winRate)}` : "—",
          ]);
    lines.push(t.toString());
    for (const rank of res.ranking ?? [])
      if (rank.ranked)
        lines.push(
          `ranking on ${rank.criterion}: ` +
            rank.ranked
              .map(
                (x) =>
                  `${x.name} P(preferred to the original) ${pct(x.pBeatsOriginal)} ${interval(x.pInterval)}`,
              )
              .join("; "),
        );
  }
  lines.push(r.caveat);
  return `${lines.join("\n")}\n`;
}

const positive = (v: string) => {
  const n = Number(v);
  if (!(Number.isFinite(n) && n >= 0))
    throw new InvalidArgumentError("expected a number of USD >= 0, e.g. 2.5");
  return n;
};

export function conversationsCommand(): Command {
  const cmd = usageCommand(
    "conversations",
    "conversation evaluations: would a candidate have answered a session's turns better than the original?",
  );

  serverOptions(
    cmd
      .command("eval")
      .description(
        "start a conversation evaluation from a JSON file (the body of POST /api/conversations/evals: " +
          "sessions, candidates, judge, criteria...)",
      ),
  )
    .requiredOption("--file <file>", "the evaluation: a JSON file, or - for standard input")
    .option(
      "--max-cost-usd <usd>",
      "refuse it if the estimate exceeds this; stop once its calls cost it",
      positive,
    )
    .option("--wait", "wait until it ends, then print the report")
    .option("--json", "print JSON")
    .action((flags: ServerFlags & { file: string; maxCostUsd?: number; wait?: boolean }) =>
      runCli(async () => {
        const body = readJsonFile(flags.file, "sessions, candidates and judge");
        if (flags.maxCostUsd !== undefined) body.maxCostUsd = flags.maxCostUsd;
        const api = client(flags);
        const started = await api<{
          id: string;
          total: number;
          sessions: number;
          slices: number;
          estimate: { totalUsd: number | null; knownUsd: number; unpricedModels: string[] };
        }>("POST", "/conversations/evals", body);
        if (!flags.wait) {
          if (flags.json) return out(JSON.stringify(started, null, 2));
          const e = started.estimate;
          return out(
            `started ${started.id}: ${started.total} items from ${started.slices} slices of ${started.sessions} ` +
              `sessions; estimate ${e.totalUsd === null ? `${usd(e.knownUsd)} + unpriced ${e.unpricedModels.join(", ")}` : usd(e.totalUsd)}\n` +
              `read the report with: intersebd conversations show ${started.id}`,
          );
        }
        for (;;) {
          const report = await api<ConversationEvalReport>(
            "GET",
            `/conversations/evals/${encodeURIComponent(started.id)}`,
          );
          if (report.status !== "running")
            return out(flags.json ? JSON.stringify(report, null, 2) : renderConversationReport(report));
          await sleep(1000);
        }
      }),
    );

  serverOptions(
    cmd
      .command("show <id>")
      .description(
        "the report: progress and cost, wins/ties/losses against the original per candidate, criterion and " +
          "context length with Wilson intervals, by the judge and by people; a ranking with two or more candidates",
      ),
  )
    .option("--json", "print the report as JSON (GET /api/conversations/evals/<id>)")
    .action((id: string, flags: ServerFlags) =>
      runCli(async () => {
        const report = await client(flags)<ConversationEvalReport>(
          "GET",
          `/conversations/evals/${encodeURIComponent(id)}`,
        );
        out(flags.json ? JSON.stringify(report, null, 2) : renderConversationReport(report));
      }),
    );

  return cmd;
}
