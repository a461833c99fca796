/** Small pieces shared by the evaluation pages: a check in words, a run's status, a cost estimate. */
import { fmtCost } from "../format.ts";
import type { CheckDef, Estimate, RunStatus } from "../types.ts";

/** A check in words: "regex /^echo/", "latencyMs <= 2000", "pairwise judge (gpt-4.1)". */
export function describeCheck(c: CheckDef): string {
  switch (c.type) {
    case "regex":
      return `regex /${c.pattern ?? ""}/${typeof c.flags === "string" ? c.flags : ""}`;
    case "bound":
      return `${c.metric} ${c.op} ${c.value}`;
    case "judge":
      return `${c.mode} judge (${c.model})`;
    case "equals":
    case "contains":
      return `${c.type} ${c.against === "baseline" ? "the logged answer" : "the correction"}`;
    case "json-schema":
      return c.schema ? "JSON Schema (given)" : "JSON Schema (the request's response_format)";
    default:
      return c.type;
  }
}

const STATUS_CLASS: Record<RunStatus, string> = {
  queued: "neutral",
  running: "warn",
  done: "ok",
  failed: "bad",
  cancelled: "neutral",
};

export function StatusBadge({ status }: { status: RunStatus }) {
  return (
    <span className={`badge ${STATUS_CLASS[status] ?? "neutral"}`} data-status={status}>
      {status}
    </span>
  );
}

export function EstimateView({ estimate }: { estimate: Estimate }) {
  return (
    <div className="notice estimate" data-testid="estimate">
      <strong>
        Estimated cost:{" "}
        <span data-testid="estimate-total">
          {estimate.totalUsd === null ? `at least ${fmtCost(estimate.knownUsd)}` : fmtCost(estimate.totalUsd)}
        </span>
      </strong>{" "}
      for {estimate.items} item{estimate.items === 1 ? "" : "s"} (candidate {fmtCost(estimate.candidateUsd)},
      judges {fmtCost(estimate.judgeUsd)}).
      {estimate.unpricedModels.length ? (
        <div className="small">No known price for {estimate.unpricedModels.join(", ")}: not counted.</div>
      ) : null}
      {estimate.skipped.length ? (
        <div className="small">
          {estimate.skipped.length} call{estimate.skipped.length === 1 ? "" : "s"} cannot be replayed and are
          left out ({estimate.skipped[0]?.reason}).
        </div>
      ) : null}
    </div>
  );
}
