import { useEffect, useState } from "react";
import { Link, useSearchParams } from "react-router";
import { ApiError, api, seg } from "../api.ts";
import { ErrorBox, Loading } from "../components/ui.tsx";
import { fmtDateTime } from "../format.ts";
import type { FloorItem, FloorPage as Page } from "../types.ts";

/** The floor judge's default flags (evals/checks.ts `DEFAULT_FLOOR_FLAGS`) and moderation's, offered as filters. */
const KNOWN_FLAGS = [
  "hate speech",
  "sexual content",
  "self-harm",
  "violence",
  "errors",
  "suggests meeting in real life",
  "harassment",
  "illicit",
];

/** Calls a floor check flagged (`GET /api/floor`), newest first, filtered by flag through `?flag=`. */
export default function FloorPage() {
  const [params, setParams] = useSearchParams();
  const flag = params.get("flag") ?? "";
  const [draft, setDraft] = useState(flag);
  const [rows, setRows] = useState<FloorItem[]>([]);
  const [next, setNext] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState<ApiError>();

  const load = (cursor?: string) => {
    setLoading(true);
    setError(undefined);
    api.get<Page>("/api/floor", { cursor, flag: flag || undefined }).then(
      (p) => {
        setRows((r) => (cursor ? [...r, ...p.data] : p.data));
        setNext(p.nextCursor);
        setLoading(false);
      },
      (err: unknown) => {
        setError(err instanceof ApiError ? err : new ApiError(0, String(err)));
        setLoading(false);
      },
    );
  };
  // biome-ignore lint/correctness/useExhaustiveDependencies: reload when the filter changes
  useEffect(() => {
    setDraft(flag);
    load();
  }, [flag]);

  const setFlag = (f: string) => setParams(f.trim() ? { flag: f.trim() } : {});

  return (
    <div className="page wide">
      <header className="page-head">
        <h1>Floor</h1>
      </header>
      <p className="muted">
        Answers a floor check flagged: the <code>moderation</code> check (the upstream's moderation endpoint)
        or a floor judge (<code>floor:&lt;model&gt;</code>), run by an evaluation or a live evaluator.
      </p>
      <form
        className="row"
        onSubmit={(e) => {
          e.preventDefault();
          setFlag(draft);
        }}
      >
        <label className="field">
          <span>Flag</span>
          <input
            list="floor-flags"
            value={draft}
            placeholder="any flag"
            onChange={(e) => setDraft(e.target.value)}
            data-testid="floor-flag"
          />
          <datalist id="floor-flags">
            {KNOWN_FLAGS.map((f) => (
              <option key={f} value={f} />
            ))}
          </datalist>
        </label>
        <button type="submit">Filter</button>
        {flag ? (
          <button type="button" onClick={() => setFlag("")}>
            Clear
          </button>
        ) : null}
      </form>
      {error ? <ErrorBox error={error} /> : null}
      {!loading && !error && rows.length === 0 ? (
        <div className="empty">
          <h2>{flag ? `No calls flagged "${flag}"` : "Nothing flagged"}</h2>
          <p>
            Floor checks run in evaluations (
            <code>intersebd eval --check moderation --check floor:gpt-4.1-mini</code>) and live evaluators;
            what they flag is listed here with the passage that triggered each flag.
          </p>
        </div>
      ) : null}
      {rows.length > 0 ? (
        <div className="table-wrap">
          <table className="floor" data-testid="floor-table">
            <thead>
              <tr>
                <th>Call</th>
                <th>Flags</th>
                <th>Excerpt</th>
                <th>Checker</th>
                <th>Answer</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((r) => (
                <tr key={r.annotationId} data-call-id={r.callId}>
                  <td className="nowrap">
                    <Link to={`/calls/${seg(r.callId)}`}>{fmtDateTime(r.call.startedAt)}</Link>
                    <div className="muted">{r.call.model ?? ""}</div>
                  </td>
                  <td>
                    {r.flags.map((f) => (
                      <button
                        key={f}
                        type="button"
                        className="tag"
                        onClick={() => setFlag(f)}
                        title="Filter by it"
                      >
                        {f}
                      </button>
                    ))}
                  </td>
                  <td>
                    {r.flags.map((f) =>
                      r.excerpts[f] ? (
                        <blockquote key={f} className="excerpt">
                          <span className="muted">{f}: </span>
                          {r.excerpts[f]}
                        </blockquote>
                      ) : null,
                    )}
                  </td>
                  <td>
                    {r.checker}
                    {r.evaluator ? <div className="muted">{r.evaluator}</div> : null}
                  </td>
                  <td className="preview">{r.call.previewOutput ?? ""}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
      {loading ? <Loading what="Loading flagged calls" /> : null}
      {next && !loading ? (
        <div className="list-foot">
          <button type="button" onClick={() => load(next)}>
            Load more
          </button>
        </div>
      ) : null}
    </div>
  );
}
