import { dropReasons } from "@intersebd/server/drop-reasons";
import { type MouseEvent, useEffect, useState } from "react";
import { Link, useNavigate, useParams } from "react-router";
import { type ApiError, api, asApiError, downloadWithKey, exportUrl, getApiKey, seg } from "../api.ts";
import { FILTER_KEYS, FilterSummary } from "../components/CallFilters.tsx";
import { HistogramChart } from "../components/LazyCharts.tsx";
import { ErrorBox, Loading, Section } from "../components/ui.tsx";
import { fmtDateTime, fmtInt, humanize } from "../format.ts";
import { useApi } from "../hooks.ts";
import {
  type DatasetDetail,
  EXPORT_FORMATS,
  type ExportFormat,
  type ExportReport,
  type SnapshotView,
} from "../types.ts";

const FORMAT_INFO: Record<ExportFormat, string> = {
  "openai-sft": "OpenAI chat fine-tuning: the conversation and the answer (or its correction)",
  "openai-dpo": "OpenAI preference fine-tuning: preferred and non-preferred answers",
  "trl-sft": "TRL SFTTrainer, conversational",
  "trl-dpo": "TRL DPOTrainer: prompt, chosen, rejected",
  "trl-kto": "TRL KTOTrainer: each answer labelled good or bad by its reward",
  rewards: "every answer with its reward and annotations, for reward models and RL",
};

/** The server's reasons for leaving a row out, as the report explains them (a plain table, no server code). */
const DROP_REASONS: Record<string, string> = dropReasons;

const SOURCE_LABELS: Record<string, string> = {
  call: "answers",
  correction: "corrections",
  pairwise: "pairwise choices",
  same_input: "same input, different rewards",
};

function Stat({ label, value, testId }: { label: string; value: number; testId: string }) {
  return (
    <div className="stat">
      <div className="stat-value" data-testid={testId}>
        {fmtInt(value)}
      </div>
      <div className="stat-label">{label}</div>
    </div>
  );
}

function ReportView({ report, onClose }: { report: ExportReport; onClose(): void }) {
  const drops = Object.entries(report.dropped);
  const sources = Object.entries(report.bySource);
  return (
    <div className="export-report" data-testid="export-report" data-format={report.format}>
      <div className="card-head">
        <h3>
          {report.format}: <span data-testid="rows-written">{fmtInt(report.written.total)}</span> row
          {report.written.total === 1 ? "" : "s"} written
        </h3>
        <button type="button" className="small-button" onClick={onClose}>
          Close
        </button>
      </div>
      <p className="small">
        From {fmtInt(report.scanned.calls)} call{report.scanned.calls === 1 ? "" : "s"}
        {report.scanned.comparisons ? ` and ${fmtInt(report.scanned.comparisons)} pairwise choices` : ""}
        {report.split > 0
          ? `; ${fmtInt(report.written.train)} train, ${fmtInt(report.written.validation)} validation (split ${report.split} by ${report.groupBy})`
          : ""}
        {sources.length
          ? `; ${sources.map(([k, n]) => `${fmtInt(n)} from ${SOURCE_LABELS[k] ?? k}`).join(", ")}`
          : ""}
        .
      </p>
      {drops.length ? (
        <table className="drops" data-testid="export-drops">
          <thead>
            <tr>
              <th>Dropped because</th>
              <th className="num">Rows</th>
            </tr>
          </thead>
          <tbody>
            {drops.map(([reason, n]) => (
              <tr key={reason} data-reason={reason}>
                <td>
                  {DROP_REASONS[reason] ?? humanize(reason)} <code className="muted small">{reason}</code>
                </td>
                <td className="num">{fmtInt(n)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : (
        <p className="muted small">Nothing dropped.</p>
      )}
    </div>
  );
}

function Exports({ name, onExported }: { name: string; onExported(): void }) {
  const [split, setSplit] = useState("");
  const [report, setReport] = useState<ExportReport>();
  const [busy, setBusy] = useState<string | null>(null);
  const [error, setError] = useState<ApiError>();
  const splitValue = Number(split) > 0 && Number(split) < 1 ? split : undefined;

  const showReport = async (format: ExportFormat) => {
    setBusy(format);
    setError(undefined);
    try {
      setReport(await api.get<ExportReport>(exportUrl(name, format, { report: 1, split: splitValue })));
    } catch (err) {
      setError(asApiError(err));
    } finally {
      setBusy(null);
    }
  };

  /** A plain link downloads by itself; with an API key the file is fetched with the key, then saved. */
  const download = (href: string) => (e: MouseEvent) => {
    if (getApiKey()) {
      e.preventDefault();
      downloadWithKey(href).then(onExported, (err: unknown) => setError(asApiError(err)));
    } else {
      // The export records a snapshot as it streams: show it once the file has had time to be written.
      setTimeout(onExported, 1500);
    }
  };

  return (
    <Section
      title="Export"
      actions={
        <label className="field inline-field">
          <span>Validation split</span>
          <input
            name="split"
            type="number"
            min="0"
            max="0.9"
            step="0.05"
            placeholder="none"
            value={split}
            onChange={(e) => setSplit(e.target.value)}
          />
        </label>
      }
    >
      <table className="exports" data-testid="exports">
        <tbody>
          {EXPORT_FORMATS.map((f) => {
            const train = exportUrl(name, f, { split: splitValue });
            const validation = exportUrl(name, f, { split: splitValue, part: "validation" });
            return (
              <tr key={f} data-format={f}>
                <td className="nowrap">
                  <strong>{f}</strong>
                </td>
                <td className="muted small">{FORMAT_INFO[f]}</td>
                <td className="nowrap actions">
                  <a
                    className="button small-button"
                    href={train}
                    download
                    onClick={download(train)}
                    data-testid={`download-${f}`}
                  >
                    {splitValue ? "Train" : "Download"}
                  </a>
                  {splitValue ? (
                    <a
                      className="button small-button"
                      href={validation}
                      download
                      onClick={download(validation)}
                    >
                      Validation
                    </a>
                  ) : null}
                  <button
                    type="button"
                    className="small-button"
                    onClick={() => void showReport(f)}
                    disabled={busy !== null}
                    data-testid={`report-${f}`}
                  >
                    {busy === f ? "Counting…" : "Report"}
                  </button>
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
      {error ? <ErrorBox error={error} /> : null}
      {report ? <ReportView report={report} onClose={() => setReport(undefined)} /> : null}
      <p className="muted small">
        JSONL, streamed. Each row is checked against its format's rules; <strong>Report</strong> counts what
        would be written and what is left out, and why, without downloading. Same from a terminal:{" "}
        <code>intersebd export --dataset {name} --format openai-sft --out train.jsonl</code>
      </p>
    </Section>
  );
}

function Snapshots({ name, nonce }: { name: string; nonce: number }) {
  const { data, error, loading, reload } = useApi<{ data: SnapshotView[] }>(
    `/api/datasets/${seg(name)}/snapshots`,
  );
  // biome-ignore lint/correctness/useExhaustiveDependencies: reload when an export was started
  useEffect(() => {
    if (nonce) reload();
  }, [nonce]);
  const rows = data?.data ?? [];
  return (
    <Section
      title="Snapshots"
      actions={
        <button type="button" className="small-button" onClick={reload}>
          Refresh
        </button>
      }
    >
      {error ? <ErrorBox error={error} /> : null}
      {loading && !data ? <Loading what="Loading snapshots" /> : null}
      {data && rows.length === 0 ? (
        <p className="muted" data-testid="no-snapshots">
          None yet. Every export and evaluation of this dataset records the exact calls it used, so a result
          can always be traced back to its rows.
        </p>
      ) : null}
      {rows.length ? (
        <table className="snapshots" data-testid="snapshots">
          <thead>
            <tr>
              <th>When</th>
              <th>For</th>
              <th className="num">Calls</th>
              <th className="num">Rows</th>
              <th>Id</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((s) => (
              <tr key={s.id} data-purpose={s.purpose}>
                <td className="nowrap">{fmtDateTime(s.createdAt)}</td>
                <td>
                  {s.purpose}
                  {s.format ? ` · ${s.format}` : ""}
                  {s.params?.part === "validation" ? " (validation)" : ""}
                  {s.complete ? null : <span className="badge warn">incomplete</span>}
                </td>
                <td className="num">{fmtInt(s.callCount)}</td>
                <td className="num">{fmtInt(s.rowCount)}</td>
                <td>
                  <code className="small">{s.id}</code>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
    </Section>
  );
}

export default function DatasetPage() {
  const { name = "" } = useParams();
  const navigate = useNavigate();
  const { data: d, error, loading } = useApi<DatasetDetail>(`/api/datasets/${seg(name)}`);
  const [exported, setExported] = useState(0);
  const [deleteError, setDeleteError] = useState<ApiError>();

  const callsQuery = d
    ? new URLSearchParams(
        FILTER_KEYS.flatMap((k) => (d.filter[k] === undefined ? [] : [[k, String(d.filter[k])]])),
      ).toString()
    : "";
  const onlyCallFilters = d
    ? Object.keys(d.filter).every((k) => (FILTER_KEYS as readonly string[]).includes(k))
    : true;

  const remove = async () => {
    if (!window.confirm(`Delete the dataset "${name}"? Its snapshots are kept.`)) return;
    try {
      await api.del(`/api/datasets/${seg(name)}`);
      navigate("/datasets");
    } catch (err) {
      setDeleteError(asApiError(err));
    }
  };

  return (
    <div className="page wide">
      <header className="page-head">
        <div>
          <div className="muted small">
            <Link to="/datasets">Datasets</Link> /
          </div>
          <h1 data-testid="dataset-name">{name}</h1>
          {d?.description ? <p className="muted">{d.description}</p> : null}
        </div>
        {d ? (
          <div className="row">
            <Link
              className="button"
              to={`/?${callsQuery}`}
              title={
                onlyCallFilters
                  ? ""
                  : "the calls list shows the call filters only, not the annotation conditions"
              }
            >
              Show the calls
            </Link>
            <Link
              className="button primary"
              to={`/evals?dataset=${seg(name)}`}
              data-testid="evaluate-dataset"
            >
              Evaluate a model on it
            </Link>
            <button type="button" onClick={() => void remove()}>
              Delete
            </button>
          </div>
        ) : null}
      </header>
      {error ? <ErrorBox error={error} /> : null}
      {deleteError ? <ErrorBox error={deleteError} title="Not deleted" /> : null}
      {loading && !d ? <Loading what="Loading the dataset" /> : null}
      {d ? (
        <>
          <div className="stats" data-testid="dataset-stats">
            <Stat label="calls" value={d.size} testId="dataset-size" />
            <Stat label="annotated" value={d.annotated} testId="dataset-annotated" />
            <Stat label="with a correction" value={d.corrections} testId="dataset-corrections" />
            <Stat label="in a pairwise choice" value={d.pairwise} testId="dataset-pairwise" />
          </div>
          <p className="small">
            <span className="muted">Filter: </span>
            <FilterSummary filter={d.filter} />
          </p>
          {d.size === 0 ? (
            <div className="empty" data-testid="dataset-no-calls">
              <h2>No call matches this filter yet</h2>
              <p>
                New calls that match are part of it as they arrive. Check the filter on the{" "}
                <Link to={`/?${callsQuery}`}>calls list</Link>.
              </p>
            </div>
          ) : null}
          <Section title={`Reward distribution${d.filter.name ? ` (${String(d.filter.name)})` : ""}`}>
            {d.rewardHistogram.length ? (
              <HistogramChart buckets={d.rewardHistogram} />
            ) : (
              <p className="muted" data-testid="no-rewards">
                No call here has a numeric reward yet. Annotate them (
                <code>intersebd.annotate(&#123; annotationKey, numericReward: 1 &#125;)</code>, the{" "}
                <Link to="/review">review queue</Link>, or the inbox) to see how they are judged.
              </p>
            )}
          </Section>
          <Exports name={d.name} onExported={() => setExported((n) => n + 1)} />
          <Snapshots name={d.name} nonce={exported} />
        </>
      ) : null}
    </div>
  );
}
