import { useEffect, useState } from "react";
import { Link, useSearchParams } from "react-router";
import { seg } from "../api.ts";
import { InputField } from "../components/Fields.tsx";
import { DataTable, PagedStates, PageHead } from "../components/ui.tsx";
import { fmtDateTime } from "../format.ts";
import { useCursorPages } from "../hooks.ts";
import type { FloorItem } from "../types.ts";

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
  const pages = useCursorPages<FloorItem>("/api/floor", { flag: flag || undefined });
  // The field follows the filter when it changes from outside (a flag's tag clicked, back and forward).
  useEffect(() => setDraft(flag), [flag]);

  const setFlag = (f: string) => setParams(f.trim() ? { flag: f.trim() } : {});

  return (
    <div className="page wide">
      <PageHead title="Floor" />
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
        <InputField
          label="Flag"
          list="floor-flags"
          value={draft}
          placeholder="any flag"
          onValue={setDraft}
          data-testid="floor-flag"
          after={
            <datalist id="floor-flags">
              {KNOWN_FLAGS.map((f) => (
                <option key={f} value={f} />
              ))}
            </datalist>
          }
        />
        <button type="submit">Filter</button>
        {flag ? (
          <button type="button" onClick={() => setFlag("")}>
            Clear
          </button>
        ) : null}
      </form>
      <PagedStates
        pages={pages}
        loadingWhat="Loading flagged calls"
        empty={
          <>
            <h2>{flag ? `No calls flagged "${flag}"` : "Nothing flagged"}</h2>
            <p>
              Floor checks run in evaluations (
              <code>intersebd eval --check moderation --check floor:gpt-4.1-mini</code>) and live evaluators;
              what they flag is listed here with the passage that triggered each flag.
            </p>
          </>
        }
      >
        <DataTable
          className="floor"
          testId="floor-table"
          columns={["Call", "Flags", "Excerpt", "Checker", "Answer"]}
        >
          {pages.rows.map((r) => (
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
        </DataTable>
      </PagedStates>
    </div>
  );
}
