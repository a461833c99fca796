import type { JudgeSummary } from "@intersebd/server/api-types";
import { Link } from "react-router";
import { seg } from "../api.ts";
import { fmtCi, fmtNum } from "../format.ts";
import { useApi } from "../hooks.ts";

/** Below this many items labelled by both, a judge is "not yet calibrated" (the server's CALIBRATED_MIN). */
export const CALIBRATED_MIN = 20;

/** Every judge's agreement with people, by name (absolute judges: the ones whose verdicts are annotations). */
export function useJudgeAgreement(): Map<string, JudgeSummary> {
  const { data } = useApi<{ data: JudgeSummary[] }>("/api/judges");
  const out = new Map<string, JudgeSummary>();
  for (const j of data?.data ?? []) if (j.mode === "absolute") out.set(j.name, j);
  return out;
}

/** "κ 0.59 · n 25", linking to the judge's calibrate page; muted and saying so when not yet calibrated. */
export function AgreementBadge({ judge }: { judge: JudgeSummary }) {
  const { kappa, kappaCi, n } = judge.agreement;
  const title =
    n === 0
      ? "no item labelled by people too: agreement unknown"
      : `agreement with people on ${n} item${n === 1 ? "" : "s"}: Cohen's κ ${fmtNum(kappa)} (95% ${fmtCi(kappaCi)})` +
        (judge.calibrated ? "" : `; not yet calibrated: n < ${CALIBRATED_MIN}`);
  return (
    <Link
      to={`/judges/${seg(judge.name)}`}
      className={`badge agreement ${judge.calibrated ? "" : "warn"}`}
      title={title}
      data-testid="agreement-badge"
    >
      κ {n ? fmtNum(kappa) : "–"} · n {n}
    </Link>
  );
}
