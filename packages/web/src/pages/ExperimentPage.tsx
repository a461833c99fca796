import { type FormEvent, useMemo, useState } from "react";
import { Link, useParams } from "react-router";
import { type ApiError, api, asApiError, seg } from "../api.ts";
import {
  ExperimentStatusBadge,
  IntervalText,
  metricLabel,
  num,
  sharesOf,
  VerdictBadge,
} from "../components/ExperimentBits.tsx";
import { IntervalChart, SequenceChart } from "../components/LazyCharts.tsx";
import { ErrorBox, Fact, Loading, Section } from "../components/ui.tsx";
import { compact, fmtCost, fmtDateTime, fmtInt, fmtMs, fmtPct } from "../format.ts";
import { useApi, useStoredString } from "../hooks.ts";
import type {
  Experiment,
  ExperimentChange,
  ExperimentDetail,
  ExperimentReport,
  ExperimentVariantReport,
} from "../types.ts";

/** Who is acting, remembered in this browser: every change is recorded with a name. */
const ACTOR_KEY = "intersebd.actor";

const when = (ms: number) => fmtDateTime(new Date(ms).toISOString());

/** The verdict, the sample-ratio warning, the plots and the per-variant tables. */
function ReportView({ report }: { report: ExperimentReport }) {
  const treatments = report.variants.filter((v) => !v.control);
  const control = report.variants.find((v) => v.control);
  const metric = report.verdict.metric ?? report.sequence[0]?.metric ?? null;
  const sequence = useMemo(() => {
    const points = report.sequence.filter((p) => p.metric === metric);
    const xs = [...new Set(points.map((p) => p.at))].sort((a, b) => a - b);
    const names = [...new Set(points.map((p) => p.variant))];
    const series = names.map((name) => {
      const at = new Map(points.filter((p) => p.variant === name).map((p) => [p.at, p]));
      return {
        label: name,
        estimate: xs.map((x) => at.get(x)?.estimate ?? null),
        low: xs.map((x) => at.get(x)?.low ?? null),
        high: xs.map((x) => at.get(x)?.high ?? null),
      };
    });
    return { xs: xs.map((x) => x / 1000), series };
  }, [report.sequence, metric]);
  const rewardRows = useMemo(() => {
    const names = [...new Set(report.variants.flatMap((v) => v.rewards.map((r) => r.name)))];
    return names.map((name) => ({
      name,
      rows: report.variants.map((v) => {
        const r = v.rewards.find((x) => x.name === name);
        return { label: v.name, estimate: r?.estimate ?? null, low: r?.low ?? null, high: r?.high ?? null };
      }),
    }));
  }, [report.variants]);
  const onMetric = treatments.flatMap((v) => v.vsControl.filter((d) => d.metric === metric));
  const verdictKind = onMetric.some((d) => d.verdict === "better")
    ? "ok"
    : onMetric.some((d) => d.verdict === "worse")
      ? "bad"
      : "neutral";

  return (
    <div data-testid="experiment-report">
      <div className={`verdict ${verdictKind}`} data-testid="verdict">
        <strong>{report.verdict.line}</strong>
        {report.verdict.metric && !report.verdict.line.includes(report.verdict.metric) ? (
          <span className="muted small"> (on {metricLabel(report.verdict.metric)})</span>
        ) : null}
      </div>
      {report.sampleRatio.mismatch ? (
        <div className="error-box srm" role="alert" data-testid="srm-warning">
          <strong>Sample ratio mismatch:</strong> the units are not split as configured (expected{" "}
          {Object.entries(report.sampleRatio.expected)
            .map(([k, v]) => `${k} ${fmtPct(v)}`)
            .join(", ")}
          ; observed{" "}
          {Object.entries(report.sampleRatio.observed)
            .map(([k, v]) => `${k} ${fmtInt(v)}`)
            .join(", ")}
          {report.sampleRatio.pValue !== null ? `; p = ${report.sampleRatio.pValue.toPrecision(2)}` : ""}).
          Assignment or logging is broken somewhere: distrust this report until it is found.
        </div>
      ) : null}

      <Section
        title={metric ? `Difference to control over time: ${metricLabel(metric)}` : "Difference to control"}
      >
        {sequence.xs.length > 0 ? (
          <SequenceChart xs={sequence.xs} series={sequence.series} unit={metric ? metricLabel(metric) : ""} />
        ) : (
          <p className="muted" data-testid="no-sequence">
            No daily points yet.
          </p>
        )}
        <p className="muted small">
          The band is a {Math.round((1 - report.alpha) * 100)}% confidence sequence ({report.method}): it
          stays valid however often it is read, so looking every day does not inflate false alarms. Where it
          leaves the dashed zero line, the difference is settled.
        </p>
      </Section>

      {treatments.length > 0 ? (
        <Section title="Differences to control">
          <div className="table-wrap">
            <table className="report-table" data-testid="differences-table">
              <thead>
                <tr>
                  <th>Variant</th>
                  <th>Metric</th>
                  <th className="num">Difference</th>
                  <th className="num">n</th>
                  <th>Verdict</th>
                  <th className="num">More units to settle</th>
                </tr>
              </thead>
              <tbody>
                {treatments.flatMap((v) =>
                  v.vsControl.map((d) => (
                    <tr key={`${v.name}/${d.metric}`} data-variant={v.name} data-metric={d.metric}>
                      <td>{v.name}</td>
                      <td>
                        {metricLabel(d.metric)}
                        {d.higherIsBetter ? null : <span className="muted small"> (lower is better)</span>}
                      </td>
                      <td className="num">
                        <IntervalText
                          i={d}
                          diff
                          pct={d.metric === "errorRate" || d.metric.startsWith("check:")}
                        />
                      </td>
                      <td className="num">{fmtInt(d.n)}</td>
                      <td>
                        <VerdictBadge d={d} />
                      </td>
                      <td className="num">{d.moreUnits === null ? "—" : `≈ ${fmtInt(d.moreUnits)}`}</td>
                    </tr>
                  )),
                )}
              </tbody>
            </table>
          </div>
        </Section>
      ) : null}

      <Section title="Variants">
        <VariantsTable variants={report.variants} />
      </Section>

      {rewardRows.length > 0 ? (
        <Section title="Rewards by variant">
          <div className="chart-grid">
            {rewardRows.map((r) => (
              <div key={r.name}>
                <h3 className="small">{r.name}</h3>
                <IntervalChart
                  rows={r.rows}
                  unit={`mean ${r.name}`}
                  testId={`reward-chart-${r.name}`}
                  reference={control?.rewards.find((x) => x.name === r.name)?.estimate ?? null}
                />
              </div>
            ))}
          </div>
          <p className="muted small">
            Means with their {Math.round((1 - report.alpha) * 100)}% intervals; the dashed line is the
            control's mean.
          </p>
        </Section>
      ) : null}
      <p className="muted small">
        Report at {when(report.generatedAt)} on version {report.version}; unit {report.unit}.
      </p>
    </div>
  );
}

function VariantsTable({ variants }: { variants: ExperimentVariantReport[] }) {
  return (
    <div className="table-wrap">
      <table className="report-table" data-testid="variants-table">
        <thead>
          <tr>
            <th>Variant</th>
            <th className="num">Share</th>
            <th className="num">Units</th>
            <th className="num">Calls</th>
            <th>Rewards</th>
            <th>Checks passed</th>
            <th>Pairwise vs control (win / tie / loss)</th>
            <th className="num">Error rate</th>
            <th className="num">Cost</th>
            <th className="num">Latency p50 / p95</th>
          </tr>
        </thead>
        <tbody>
          {variants.map((v) => (
            <tr key={v.name} data-variant={v.name}>
              <td className="nowrap">
                <strong>{v.name}</strong>
                {v.control ? <span className="badge neutral">control</span> : null}
              </td>
              <td className="num">{fmtPct(v.share)}</td>
              <td className="num" data-testid="units">
                {fmtInt(v.units)}
              </td>
              <td className="num">
                {fmtInt(v.calls)}
                {v.shadowCalls ? <div className="muted small">+{fmtInt(v.shadowCalls)} shadow</div> : null}
              </td>
              <td>
                {v.rewards.length
                  ? v.rewards.map((r) => (
                      <div key={r.name} className="nowrap">
                        <span className="muted small">{r.name}</span> <IntervalText i={r} />{" "}
                        <span className="muted small">n={r.n}</span>
                      </div>
                    ))
                  : "—"}
              </td>
              <td>
                {v.checks.length
                  ? v.checks.map((c) => (
                      <div key={c.name} className="nowrap">
                        <span className="muted small">{c.name}</span> <IntervalText i={c} pct />
                      </div>
                    ))
                  : "—"}
              </td>
              <td>
                {v.pairwise.length
                  ? v.pairwise.map((p) => (
                      <div key={p.judge} className="nowrap">
                        <span className="muted small">{p.judge}</span> {p.wins} / {p.ties} / {p.losses}{" "}
                        <span className="muted small">win rate</span> <IntervalText i={p} pct />
                      </div>
                    ))
                  : "—"}
              </td>
              <td className="num">
                <IntervalText i={v.errorRate} pct />
              </td>
              <td className="num nowrap">
                {fmtCost(v.costUsd.total)}
                {v.costUsd.perCall !== null ? (
                  <div className="muted small">{fmtCost(v.costUsd.perCall)} / call</div>
                ) : null}
              </td>
              <td className="num nowrap">
                {fmtMs(v.latencyMs.p50)} / {fmtMs(v.latencyMs.p95)}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** The report, or why there is none: a server without the route, or an error while computing it. */
function ReportPart({ name }: { name: string }) {
  const { data, error, loading, reload } = useApi<ExperimentReport>(`/api/experiments/${seg(name)}/report`);
  if (loading && !data) return <Loading what="Computing the report" />;
  if (error || !data)
    return (
      <div className="empty" data-testid="no-report">
        <h2>No report yet</h2>
        <p className="muted">
          {error && error.status !== 404 ? `The server could not compute it: ${error.message}` : ""}
          {error?.status === 404 ? "This server does not compute experiment reports yet." : ""}
        </p>
        <button type="button" className="small-button" onClick={reload}>
          Try again
        </button>
      </div>
    );
  return <ReportView report={data} />;
}

function Overrides({ v }: { v: Experiment["variants"][number] }) {
  const parts: Array<[string, string]> = [];
  if (v.model) parts.push(["model", v.model]);
  if (v.upstream) parts.push(["upstream", v.upstream]);
  if (v.promptVersion) parts.push(["prompt version", v.promptVersion]);
  if (v.systemPrompt !== undefined) parts.push(["system prompt", v.systemPrompt]);
  if (v.params && Object.keys(v.params).length) parts.push(["parameters", compact(v.params)]);
  if (v.messages) parts.push(["messages", v.messages.map((m) => `${m.role}: ${m.content}`).join("\n")]);
  if (!parts.length) return <span className="muted">none (as requested)</span>;
  return (
    <dl className="overrides">
      {parts.map(([k, val]) => (
        <div key={k}>
          <dt className="muted small">{k}</dt>
          <dd className="clamp">{val}</dd>
        </div>
      ))}
    </dl>
  );
}

function Definition({ x }: { x: Experiment }) {
  const shares = sharesOf(x);
  return (
    <Section title="Definition">
      <div className="table-wrap">
        <table data-testid="definition-variants">
          <thead>
            <tr>
              <th>Variant</th>
              <th className="num">Weight</th>
              <th className="num">Share</th>
              <th>Overrides</th>
            </tr>
          </thead>
          <tbody>
            {x.variants.map((v) => (
              <tr key={v.name} data-variant={v.name}>
                <td className="nowrap">
                  <strong>{v.name}</strong>
                  {v.name === x.control ? <span className="badge neutral">control</span> : null}
                  {x.promoted?.variant === v.name ? <span className="badge ok">promoted</span> : null}
                </td>
                <td className="num">{num(v.weight)}</td>
                <td className="num" data-testid="share">
                  {fmtPct(shares[v.name] ?? 0)}
                </td>
                <td>
                  <Overrides v={v} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <dl className="facts">
        <Fact label="Unit of assignment">
          {x.unit} <span className="muted small">(salt {x.salt})</span>
        </Fact>
        <Fact label="Applies to">
          <code>model: "exp:{x.name}"</code>, the header <code>x-intersebd-experiment: {x.name}</code>
          {x.match ? (
            <>
              , and requests matching <code>{compact(x.match)}</code>
            </>
          ) : null}
        </Fact>
        <div className="fact">
          <dt>Shadow</dt>
          <dd data-testid="shadow-settings">
            {x.shadow ? (
              <>
                {fmtPct(x.shadow.sample)} of matching requests, {x.shadow.concurrency} in flight, timeout{" "}
                {fmtMs(x.shadow.timeoutMs)}
                {x.shadow.dailyCostUsd !== undefined
                  ? `, at most ${fmtCost(x.shadow.dailyCostUsd)} a day`
                  : ""}
                {x.shadow.judge ? (
                  <div className="small">
                    judged by {x.shadow.judge.model} ({x.shadow.judge.mode}) on{" "}
                    {fmtPct(x.shadow.judge.sample)}
                  </div>
                ) : null}
                {x.shadow.checks?.length ? (
                  <div className="small">{x.shadow.checks.length} checks on both answers</div>
                ) : null}
              </>
            ) : (
              <span className="muted">none</span>
            )}
          </dd>
        </div>
        <Fact label="Created">
          {when(x.createdAt)} by {x.createdBy}
        </Fact>
      </dl>
    </Section>
  );
}

function History({ changes }: { changes: ExperimentChange[] }) {
  return (
    <Section title="History">
      <div className="table-wrap">
        <table data-testid="history">
          <thead>
            <tr>
              <th className="num">Version</th>
              <th>Action</th>
              <th>Who</th>
              <th>When</th>
              <th>What</th>
            </tr>
          </thead>
          <tbody>
            {[...changes].reverse().map((c) => (
              <tr key={c.version} data-action={c.action} data-version={c.version}>
                <td className="num">{c.version}</td>
                <td>{c.action}</td>
                <td data-testid="change-by">{c.by}</td>
                <td className="nowrap">{when(c.at)}</td>
                <td>
                  <code className="small clamp">{compact(c.change)}</code>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </Section>
  );
}

type Pending = "update" | "promote" | "rollback" | null;

/** Change weights or status, promote a variant with an approver's name, or roll a promotion back. */
function Actions({ x, onChanged }: { x: Experiment; onChanged: (x: Experiment) => void }) {
  const [actor, setActor] = useStoredString(ACTOR_KEY);
  const [weights, setWeights] = useState<Record<string, string>>(() =>
    Object.fromEntries(x.variants.map((v) => [v.name, String(v.weight)])),
  );
  const [status, setStatus] = useState<string>(x.status === "promoted" ? "" : x.status);
  const [variant, setVariant] = useState(x.variants.find((v) => v.name !== x.control)?.name ?? x.control);
  const [approvedBy, setApprovedBy] = useState("");
  const [comment, setComment] = useState("");
  const [busy, setBusy] = useState<Pending>(null);
  const [error, setError] = useState<ApiError | Error>();

  const send = async (what: Exclude<Pending, null>, path: string, body: unknown) => {
    setBusy(what);
    setError(undefined);
    try {
      onChanged(await api.post<Experiment>(path, body));
      setComment("");
    } catch (err) {
      setError(asApiError(err));
    } finally {
      setBusy(null);
    }
  };
  const base = `/api/experiments/${seg(x.name)}`;

  const update = (e: FormEvent) => {
    e.preventDefault();
    const changed: Record<string, number> = {};
    for (const v of x.variants) {
      const w = Number(weights[v.name]);
      if (!Number.isFinite(w) || w < 0) {
        setError(new Error(`The weight of ${v.name} must be a number, 0 or more`));
        return;
      }
      if (w !== v.weight) changed[v.name] = w;
    }
    const body: Record<string, unknown> = { by: actor };
    if (Object.keys(changed).length) body.weights = changed;
    if (status && status !== x.status) body.status = status;
    if (!body.weights && !body.status) {
      setError(new Error("Nothing to change: set other weights or another status"));
      return;
    }
    void send("update", base, body);
  };

  if (x.status === "promoted" && x.promoted) {
    return (
      <Section title="Promoted">
        <p data-testid="promoted">
          Every matching request goes to <strong>{x.promoted.variant}</strong>, approved by{" "}
          <strong data-testid="approved-by">{x.promoted.approvedBy}</strong> on {when(x.promoted.at)}
          {x.promoted.comment ? <> ({x.promoted.comment})</> : null}.
        </p>
        <form
          className="row"
          data-testid="rollback-form"
          onSubmit={(e) => {
            e.preventDefault();
            void send("rollback", `${base}/rollback`, { by: actor, ...(comment ? { comment } : {}) });
          }}
        >
          <label className="field">
            <span>Your name</span>
            <input name="by" value={actor} required onChange={(e) => setActor(e.target.value)} />
          </label>
          <label className="field grow">
            <span>Why (optional)</span>
            <input name="comment" value={comment} onChange={(e) => setComment(e.target.value)} />
          </label>
          <button type="submit" disabled={busy !== null}>
            Roll back
          </button>
        </form>
        <p className="muted small">
          Rolling back stops the experiment: matching requests go to the control again.
        </p>
        {error ? <ErrorBox error={error} /> : null}
      </Section>
    );
  }

  return (
    <Section title="Change">
      <form className="experiment-update" data-testid="update-form" onSubmit={update}>
        <div className="form-grid">
          {x.variants.map((v) => (
            <label key={v.name} className="field narrow">
              <span>Weight of {v.name}</span>
              <input
                name={`weight-${v.name}`}
                type="number"
                min="0"
                step="any"
                value={weights[v.name] ?? ""}
                onChange={(e) => setWeights((w) => ({ ...w, [v.name]: e.target.value }))}
              />
            </label>
          ))}
          <label className="field">
            <span>Status</span>
            <select name="status" value={status} onChange={(e) => setStatus(e.target.value)}>
              {["draft", "shadow", "running", "stopped"].map((s) => (
                <option key={s} value={s}>
                  {s}
                </option>
              ))}
            </select>
          </label>
          <label className="field">
            <span>Your name</span>
            <input name="by" value={actor} required onChange={(e) => setActor(e.target.value)} />
          </label>
        </div>
        <button type="submit" disabled={busy !== null}>
          Save change
        </button>
        <p className="muted small">
          Units keep their variant where the new weights allow it: only the share that moves is reassigned.
        </p>
      </form>
      <form
        className="promote"
        data-testid="promote-form"
        onSubmit={(e) => {
          e.preventDefault();
          void send("promote", `${base}/promote`, {
            variant,
            approvedBy: approvedBy.trim(),
            ...(comment ? { comment } : {}),
          });
        }}
      >
        <h3>Promote a variant</h3>
        <div className="form-grid">
          <label className="field">
            <span>Variant</span>
            <select name="variant" value={variant} onChange={(e) => setVariant(e.target.value)}>
              {x.variants.map((v) => (
                <option key={v.name} value={v.name}>
                  {v.name}
                </option>
              ))}
            </select>
          </label>
          <label className="field">
            <span>Approved by (required)</span>
            <input
              name="approvedBy"
              value={approvedBy}
              required
              placeholder="the person who approves"
              onChange={(e) => setApprovedBy(e.target.value)}
            />
          </label>
          <label className="field grow">
            <span>Comment (optional)</span>
            <input name="comment" value={comment} onChange={(e) => setComment(e.target.value)} />
          </label>
        </div>
        <button type="submit" className="primary" disabled={busy !== null || !approvedBy.trim()}>
          Promote {variant}
        </button>
        <p className="muted small">
          Promotion sends every matching request to this variant and records who approved it; it can be rolled
          back.
        </p>
      </form>
      {error ? <ErrorBox error={error} /> : null}
    </Section>
  );
}

/** `/experiments/:name`: the verdict and report, the actions, the definition and its history. */
export default function ExperimentPage() {
  const { name = "" } = useParams();
  const { data, error, loading, reload } = useApi<ExperimentDetail>(`/api/experiments/${seg(name)}`);
  // A change reloads the history and recomputes the report (the split or the status moved).
  const [nonce, setNonce] = useState(0);
  const changed = () => {
    reload();
    setNonce((n) => n + 1);
  };
  return (
    <div className="page wide">
      <header className="page-head">
        <div>
          <div className="muted small">
            <Link to="/experiments">Experiments</Link> /
          </div>
          <h1>
            {name} {data ? <ExperimentStatusBadge status={data.status} /> : null}
          </h1>
          {data?.description ? <p className="muted">{data.description}</p> : null}
        </div>
        <div className="row">
          <button type="button" onClick={changed}>
            Refresh
          </button>
        </div>
      </header>
      {error ? <ErrorBox error={error} /> : null}
      {loading && !data ? <Loading what="Loading the experiment" /> : null}
      {data ? (
        <>
          <ReportPart key={nonce} name={name} />
          <Actions key={`${data.version}`} x={data} onChanged={changed} />
          <Definition x={data} />
          <History changes={data.changes} />
          <p className="muted small">
            From a terminal: <code>intersebd experiments show {name}</code>
          </p>
        </>
      ) : null}
    </div>
  );
}
