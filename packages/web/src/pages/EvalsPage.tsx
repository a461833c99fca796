import { useEffect, useMemo, useState } from "react";
import { Link, useNavigate, useSearchParams } from "react-router";
import { type ApiError, api, asApiError, seg } from "../api.ts";
import { describeCheck, EstimateView, StatusBadge } from "../components/EvalBits.tsx";
import { bindTo, InputField, SelectField, TextAreaField } from "../components/Fields.tsx";
import { ErrorBox, Loading, PageHead } from "../components/ui.tsx";
import { fmtCost, fmtDateTime } from "../format.ts";
import { useApi } from "../hooks.ts";
import type { CheckDef, DatasetView, Estimate, RunView, Settings } from "../types.ts";

interface Draft {
  dataset: string;
  model: string;
  upstream: string;
  systemPrompt: string;
  params: string;
  checks: string[];
  shorthands: string;
  judgeMode: "" | "absolute" | "pairwise";
  judgeModel: string;
  judgeRubric: string;
  concurrency: string;
  maxCost: string;
}

/** The request body for `POST /api/evals`; throws a message for a field the user must fix. */
function bodyOf(d: Draft, dryRun: boolean): Record<string, unknown> {
  const candidate: Record<string, unknown> = {};
  if (d.model.trim()) candidate.model = d.model.trim();
  if (d.upstream) candidate.upstream = d.upstream;
  if (d.systemPrompt.trim()) candidate.systemPrompt = d.systemPrompt;
  if (d.params.trim()) {
    let params: unknown;
    try {
      params = JSON.parse(d.params);
    } catch {
      throw new Error('Parameters must be a JSON object, e.g. {"temperature": 0}');
    }
    if (typeof params !== "object" || params === null || Array.isArray(params))
      throw new Error('Parameters must be a JSON object, e.g. {"temperature": 0}');
    candidate.params = params;
  }
  const checks = [
    ...d.checks,
    ...d.shorthands
      .split("\n")
      .map((s) => s.trim())
      .filter(Boolean),
  ];
  const body: Record<string, unknown> = { dataset: d.dataset, candidate, checks, dryRun };
  if (d.judgeMode) {
    if (!d.judgeModel.trim()) throw new Error("Name the judge's model, or choose no judge");
    body.judge = {
      mode: d.judgeMode,
      model: d.judgeModel.trim(),
      ...(d.judgeRubric.trim() ? { rubric: d.judgeRubric.trim() } : {}),
    };
  }
  if (d.concurrency) body.concurrency = Number(d.concurrency);
  if (d.maxCost) body.maxCostUsd = Number(d.maxCost);
  return body;
}

function StartForm({ datasets, initialDataset }: { datasets: DatasetView[]; initialDataset: string }) {
  const navigate = useNavigate();
  const checks = useApi<{ data: CheckDef[] }>("/api/evals/checks");
  const settings = useApi<Settings>("/api/settings");
  const declared = checks.data?.data ?? [];
  const [draft, setDraft] = useState<Draft>({
    dataset: initialDataset || datasets[0]?.name || "",
    model: "",
    upstream: "",
    systemPrompt: "",
    params: "",
    checks: [],
    shorthands: "",
    judgeMode: "",
    judgeModel: "",
    judgeRubric: "",
    concurrency: "4",
    maxCost: "",
  });
  const [estimate, setEstimate] = useState<Estimate>();
  const [busy, setBusy] = useState<"estimate" | "start" | null>(null);
  const [error, setError] = useState<ApiError | Error>();
  // Every declared check is chosen by default, as the CLI runs them all when none is named.
  useEffect(() => {
    if (checks.data) setDraft((d) => ({ ...d, checks: checks.data?.data.map((c) => c.name) ?? [] }));
  }, [checks.data]);
  const set = <K extends keyof Draft>(k: K, v: Draft[K]) => {
    setEstimate(undefined);
    setDraft((d) => ({ ...d, [k]: v }));
  };
  const bind = bindTo(draft, set);

  const send = async (dryRun: boolean) => {
    setError(undefined);
    let body: Record<string, unknown>;
    try {
      body = bodyOf(draft, dryRun);
    } catch (err) {
      setError(err as Error);
      return;
    }
    setBusy(dryRun ? "estimate" : "start");
    try {
      const r = await api.post<{ id: string | null; estimate: Estimate }>("/api/evals", body);
      setEstimate(r.estimate);
      if (!dryRun && r.id) navigate(`/evals/${seg(r.id)}`, { state: { estimate: r.estimate } });
    } catch (err) {
      setError(asApiError(err));
    } finally {
      setBusy(null);
    }
  };

  const upstreams = settings.data?.upstreams ?? [];
  return (
    <form
      className="card eval-form"
      data-testid="eval-form"
      onSubmit={(e) => {
        e.preventDefault();
        void send(false);
      }}
    >
      <header className="card-head">
        <h2>New evaluation</h2>
      </header>
      <p className="muted small">
        Replays the dataset's logged requests against a candidate, scores each answer with the checks and the
        judge, and compares it with the logged answers (the baseline). Replayed calls are logged here too,
        tagged with the run.
      </p>
      <div className="form-grid">
        <SelectField label="Dataset" {...bind("dataset")} required>
          {datasets.map((d) => (
            <option key={d.id} value={d.name}>
              {d.name}
            </option>
          ))}
        </SelectField>
        <InputField label="Candidate model" {...bind("model")} placeholder="the logged model" />
        <SelectField label="Upstream" {...bind("upstream")}>
          <option value="">default</option>
          {upstreams
            .filter((u) => u.name !== "default")
            .map((u) => (
              <option key={u.name} value={u.name}>
                {u.name}
              </option>
            ))}
        </SelectField>
        <InputField label="Concurrency" {...bind("concurrency")} type="number" min="1" max="64" />
        <InputField
          label="Refuse above (USD)"
          {...bind("maxCost")}
          type="number"
          min="0"
          step="any"
          placeholder="no limit"
        />
      </div>
      <div className="form-grid two">
        <TextAreaField
          label="System prompt (replaces the logged one; empty keeps it)"
          {...bind("systemPrompt")}
          rows={3}
        />
        <TextAreaField
          label="Parameters (JSON; null removes one)"
          {...bind("params")}
          rows={3}
          textClass="mono"
          placeholder='{"temperature": 0, "max_tokens": 400}'
        />
      </div>
      <h3>Checks</h3>
      {checks.error ? <ErrorBox error={checks.error} /> : null}
      {declared.length ? (
        <ul className="check-list" data-testid="declared-checks">
          {declared.map((c) => (
            <li key={c.name}>
              <label>
                <input
                  type="checkbox"
                  name="check"
                  value={c.name}
                  checked={draft.checks.includes(c.name)}
                  onChange={(e) =>
                    set(
                      "checks",
                      e.target.checked ? [...draft.checks, c.name] : draft.checks.filter((n) => n !== c.name),
                    )
                  }
                />{" "}
                <strong>{c.name}</strong> <span className="muted small">{describeCheck(c)}</span>
              </label>
            </li>
          ))}
        </ul>
      ) : checks.data ? (
        <p className="muted small">
          This server declares no checks (a checks file, <code>INTERSEBD_CHECKS_FILE</code>); write some
          below.
        </p>
      ) : null}
      <TextAreaField
        label="More checks, one per line"
        {...bind("shorthands")}
        rows={2}
        textClass="mono"
        placeholder={"json-schema\nregex:^\\{\nlatencyMs <= 2000\ncontains"}
      />
      <h3>Judge</h3>
      <div className="form-grid">
        <SelectField
          label="Mode"
          name="judgeMode"
          value={draft.judgeMode}
          onValue={(v) => set("judgeMode", v as Draft["judgeMode"])}
        >
          <option value="">no judge</option>
          <option value="pairwise">pairwise (candidate vs logged answer)</option>
          <option value="absolute">absolute (a score for each answer)</option>
        </SelectField>
        {draft.judgeMode ? (
          <InputField label="Judge model" {...bind("judgeModel")} placeholder="e.g. gpt-4.1" />
        ) : null}
      </div>
      {draft.judgeMode ? (
        <TextAreaField
          label="Rubric (what the judge should look for; optional)"
          {...bind("judgeRubric")}
          rows={2}
        />
      ) : null}
      {estimate ? <EstimateView estimate={estimate} /> : null}
      {error ? <ErrorBox error={error} title="Not started" /> : null}
      <div className="row">
        <button type="button" onClick={() => void send(true)} disabled={busy !== null || !draft.dataset}>
          {busy === "estimate" ? "Estimating…" : "Estimate cost"}
        </button>
        <button type="submit" className="primary" disabled={busy !== null || !draft.dataset}>
          {busy === "start" ? "Starting…" : "Start evaluation"}
        </button>
      </div>
    </form>
  );
}

function RunRow({ run }: { run: RunView }) {
  const finished = run.done + run.failed;
  return (
    <tr data-run-id={run.id}>
      <td className="nowrap">
        <Link to={`/evals/${seg(run.id)}`}>{fmtDateTime(run.createdAt)}</Link>
      </td>
      <td>{run.dataset ? <Link to={`/datasets/${seg(run.dataset)}`}>{run.dataset}</Link> : "calls"}</td>
      <td className="model">{run.candidate.model ?? <span className="muted">logged model</span>}</td>
      <td>
        <StatusBadge status={run.status} />
      </td>
      <td className="nowrap">
        <progress max={run.total || 1} value={finished} /> {finished}/{run.total}
        {run.failed ? <span className="error-text small"> ({run.failed} failed)</span> : null}
      </td>
      <td className="small">
        {run.checks.map((c) => c.name).join(", ") || <span className="muted">none</span>}
      </td>
      <td className="num">{fmtCost(run.costUsd)}</td>
    </tr>
  );
}

export default function EvalsPage() {
  const [params, setParams] = useSearchParams();
  const datasets = useApi<{ data: DatasetView[] }>("/api/datasets");
  const runs = useApi<{ data: RunView[] }>("/api/evals?limit=100");
  const list = runs.data?.data ?? [];
  const active = useMemo(() => list.some((r) => r.status === "queued" || r.status === "running"), [list]);
  const initialDataset = params.get("dataset") ?? "";
  const [open, setOpen] = useState(Boolean(initialDataset));

  // Refreshes the list while a run goes on.
  const { reload } = runs;
  useEffect(() => {
    if (!active) return;
    const t = setInterval(reload, 2000);
    return () => clearInterval(t);
  }, [active, reload]);

  const ds = datasets.data?.data ?? [];
  const showForm = (open || (runs.data && list.length === 0)) && ds.length > 0;

  return (
    <div className="page wide">
      <PageHead
        title="Evaluations"
        explanation="A dataset replayed against a candidate model, prompt or parameters, scored and compared."
        actions={
          showForm || ds.length === 0 ? null : (
            <button type="button" className="primary" onClick={() => setOpen(true)}>
              New evaluation
            </button>
          )
        }
      />
      {datasets.error ? <ErrorBox error={datasets.error} /> : null}
      {runs.error ? <ErrorBox error={runs.error} /> : null}
      {datasets.data && ds.length === 0 ? (
        <div className="empty" data-testid="evals-no-datasets">
          <h2>First, a dataset</h2>
          <p>
            An evaluation replays the calls of a dataset.{" "}
            <Link to="/datasets?create=1">Create a dataset</Link> (or filter the{" "}
            <Link to="/">calls list</Link> and save the filter), then come back here.
          </p>
        </div>
      ) : null}
      {showForm ? (
        <StartForm
          datasets={ds}
          initialDataset={ds.some((d) => d.name === initialDataset) ? initialDataset : ""}
        />
      ) : null}
      {showForm && list.length > 0 ? (
        <p>
          <button
            type="button"
            onClick={() => {
              setOpen(false);
              if (initialDataset) setParams(new URLSearchParams());
            }}
          >
            Close the form
          </button>
        </p>
      ) : null}
      {runs.loading && !runs.data ? <Loading what="Loading evaluations" /> : null}
      {list.length ? (
        <div className="table-wrap">
          <table className="runs" data-testid="runs-table">
            <thead>
              <tr>
                <th>Started</th>
                <th>Dataset</th>
                <th>Candidate</th>
                <th>Status</th>
                <th>Progress</th>
                <th>Checks</th>
                <th className="num">Cost</th>
              </tr>
            </thead>
            <tbody>
              {list.map((r) => (
                <RunRow key={r.id} run={r} />
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
    </div>
  );
}
