import { useState } from "react";
import { Link, useParams } from "react-router";
import { type ApiError, api, asApiError, seg } from "../api.ts";
import {
  DataTable,
  ErrorBox,
  Fact,
  JsonBlock,
  ListStates,
  Loading,
  PageHead,
  Section,
} from "../components/ui.tsx";
import { fmtCost, fmtDateTime, fmtInt, fmtPct } from "../format.ts";
import { useApi } from "../hooks.ts";
import type { Evaluator, EvaluatorList } from "../types.ts";

/** A check as declared: a shorthand string as it is, an object by its name or type. */
function checkLabel(c: unknown): string {
  if (typeof c === "string") return c;
  if (c && typeof c === "object") {
    const o = c as { name?: unknown; type?: unknown };
    if (typeof o.name === "string") return o.name;
    if (typeof o.type === "string") return o.type;
  }
  return JSON.stringify(c);
}

/** The filter as `field=value` chips; an empty filter takes every call. */
function filterChips(e: Evaluator): string[] {
  const f = e.filter;
  const out: string[] = [];
  for (const k of ["model", "upstream", "experiment", "variant", "source"] as const)
    if (f[k] !== undefined) out.push(`${k}=${f[k]}`);
  for (const t of f.tags ?? []) out.push(`tag=${t}`);
  for (const [k, v] of Object.entries(f.metadata ?? {})) out.push(`metadata.${k}=${String(v)}`);
  return out;
}

function Filter({ e }: { e: Evaluator }) {
  const chips = filterChips(e);
  if (chips.length === 0) return <span className="muted">every call</span>;
  return (
    <>
      {chips.map((c) => (
        <span key={c} className="tag">
          {c}
        </span>
      ))}
    </>
  );
}

/** What the rule runs: its checks, then its judge. */
function Runs({ e }: { e: Evaluator }) {
  const parts = e.checks.map(checkLabel);
  if (e.judge) parts.push(`judge ${e.judge.name ?? e.judge.model} (${e.judge.model})`);
  return <>{parts.length ? parts.join(", ") : "—"}</>;
}

/** Pauses or resumes a rule; answers the rule as the server has it now. */
function PauseButton({ e, onChanged }: { e: Evaluator; onChanged(e: Evaluator): void }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError>();
  const toggle = async () => {
    setBusy(true);
    setError(undefined);
    try {
      onChanged(await api.post<Evaluator>(`/api/evaluators/${seg(e.id)}`, { enabled: !e.enabled }));
    } catch (err) {
      setError(asApiError(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <>
      <button
        type="button"
        className="small-button"
        disabled={busy}
        onClick={toggle}
        data-testid={`toggle-${e.name}`}
      >
        {e.enabled ? "Pause" : "Resume"}
      </button>
      {error ? <ErrorBox error={error} /> : null}
    </>
  );
}

const Status = ({ e }: { e: Evaluator }) => (
  <span className={e.enabled ? "badge ok" : "badge warn"} data-testid="evaluator-status">
    {e.enabled ? "running" : "paused"}
  </span>
);

/** A rule's job counters: the table's column headings, the detail page's longer labels, in this order. */
const COUNTERS = [
  { key: "queued", column: "Queued", label: "Queued" },
  { key: "running", column: "Running", label: "Running" },
  { key: "done", column: "Done", label: "Done" },
  { key: "failed", column: "Failed", label: "Failed" },
  { key: "skippedByCap", column: "Skipped by cap", label: "Skipped by the cost cap" },
  { key: "costTodayUsd", column: "Cost today", label: "Cost today (UTC)" },
] as const;

/** `/evaluators`: the live evaluators with their jobs' counters; `/evaluators/:id`: one rule. */
export default function EvaluatorsPage() {
  const { id } = useParams();
  return id ? <EvaluatorDetail id={id} /> : <EvaluatorsTable />;
}

function EvaluatorsTable() {
  const list = useApi<EvaluatorList>("/api/evaluators");
  const { data, setData } = list;
  const rows = data?.evaluators ?? [];
  const replace = (e: Evaluator) =>
    data && setData({ evaluators: data.evaluators.map((x) => (x.id === e.id ? e : x)) });
  return (
    <div className="page wide">
      <PageHead
        title="Live evaluators"
        explanation="Each rule runs its checks and judge on a sample of the new calls its filter matches, in the background; the results are annotations on the calls."
      />
      <ListStates
        list={list}
        count={rows.length}
        loadingWhat="Loading evaluators"
        emptyTestId="evaluators-empty"
        empty={
          <>
            <h2>No live evaluators</h2>
            <p>
              Create one with <code>POST /api/evaluators</code> or{" "}
              <code>intersebd evaluators create --file rule.json</code>, for example{" "}
              <code>
                {
                  '{ "name": "json", "filter": { "model": "gpt-4o" }, "sample": 0.1, "checks": ["json-schema"] }'
                }
              </code>
              .
            </p>
          </>
        }
      >
        <DataTable
          testId="evaluators-table"
          columns={["Name", "Status", "Filter", "Sample", "Runs", ...COUNTERS.map((c) => c.column), ""]}
        >
          {rows.map((e) => (
            <tr key={e.id} data-evaluator={e.name}>
              <td className="nowrap">
                <Link to={`/evaluators/${seg(e.id)}`}>{e.name}</Link>
              </td>
              <td>
                <Status e={e} />
              </td>
              <td>
                <Filter e={e} />
              </td>
              <td className="num">{fmtPct(e.sample)}</td>
              <td>
                <Runs e={e} />
              </td>
              {COUNTERS.map((c) => (
                <td key={c.key} className="num" data-counter={c.key}>
                  {c.key === "costTodayUsd" ? (
                    <>
                      {fmtCost(e.counters.costTodayUsd)}
                      {e.dailyCostUsd !== undefined ? (
                        <span className="muted"> / {fmtCost(e.dailyCostUsd)}</span>
                      ) : null}
                    </>
                  ) : (
                    fmtInt(e.counters[c.key])
                  )}
                </td>
              ))}
              <td>
                <PauseButton e={e} onChanged={replace} />
              </td>
            </tr>
          ))}
        </DataTable>
      </ListStates>
    </div>
  );
}

function EvaluatorDetail({ id }: { id: string }) {
  const { data: e, error, loading, setData } = useApi<Evaluator>(`/api/evaluators/${seg(id)}`);
  return (
    <div className="page wide">
      <p className="small">
        <Link to="/evaluators">← Live evaluators</Link>
      </p>
      {error ? <ErrorBox error={error} /> : null}
      {loading && !e ? <Loading what="Loading the evaluator" /> : null}
      {e ? (
        <>
          <PageHead
            title={e.name}
            titleTestId="evaluator-name"
            explanation={
              <>
                <Status e={e} /> created {fmtDateTime(new Date(e.createdAt).toISOString())}, changed{" "}
                {fmtDateTime(new Date(e.updatedAt).toISOString())}
              </>
            }
            actions={<PauseButton e={e} onChanged={setData} />}
          />
          <Section title="Jobs">
            <dl className="facts" data-testid="evaluator-counters">
              {COUNTERS.map(({ key, label }) => (
                <div key={key} className="fact" data-counter={key}>
                  <dt>{label}</dt>
                  <dd className="num">
                    {key === "costTodayUsd"
                      ? `${fmtCost(e.counters.costTodayUsd)}${e.dailyCostUsd !== undefined ? ` of ${fmtCost(e.dailyCostUsd)}` : ""}`
                      : fmtInt(e.counters[key])}
                  </dd>
                </div>
              ))}
            </dl>
          </Section>
          <Section title="Rule">
            <dl className="facts">
              <Fact label="Filter">
                <Filter e={e} />
              </Fact>
              <Fact label="Sample">{fmtPct(e.sample)} of matching calls</Fact>
              <Fact label="Runs">
                <Runs e={e} />
              </Fact>
              <Fact label="Concurrency">{e.concurrency} per instance</Fact>
            </dl>
            <JsonBlock
              value={{
                filter: e.filter,
                sample: e.sample,
                checks: e.checks,
                judge: e.judge,
                concurrency: e.concurrency,
                dailyCostUsd: e.dailyCostUsd,
              }}
            />
          </Section>
        </>
      ) : null}
    </div>
  );
}
