/**
 * Settings › Privacy: erase everything a user id, session id or tag names (erasure/README.md). A dry run counts
 * first, a confirmation follows, and the audit log (who, when, the selector's kind and hash, counts; never the
 * value) lists every erasure. Needs an admin key: the server's 403 says so.
 */
import { useState } from "react";
import { Link } from "react-router";
import { type ApiError, api, seg, withQuery } from "../api.ts";
import { ErrorBox, Loading, PageHead, Section } from "../components/ui.tsx";
import { fmtDateTime, fmtInt } from "../format.ts";
import { useApi } from "../hooks.ts";
import type { AuditEntry, AuditPage, ErasureCounts, ErasureResult } from "../types.ts";

const SELECTORS = {
  userId: { label: "User id", path: "/api/users/", placeholder: "e.g. user-42" },
  sessionId: { label: "Session id", path: "/api/sessions/", placeholder: "e.g. sess-checkout-981" },
  tag: { label: "Tag", path: "/api/tags/", placeholder: "a tag, call id or completion id" },
} as const;
type SelectorKind = keyof typeof SELECTORS;

/** Each count in words (one, several), in the order a reader cares about: the calls first, what hung on them after. */
const COUNT_LABELS: Record<keyof ErasureCounts, [string, string]> = {
  calls: ["call", "calls"],
  derivedCalls: [
    "copy (shadow call, regeneration, evaluation candidate)",
    "copies (shadow calls, regenerations, evaluation candidates)",
  ],
  callTags: ["tag of those calls", "tags of those calls"],
  callAnnotations: ["annotation on those calls", "annotations on those calls"],
  annotations: ["annotation", "annotations"],
  links: ["link", "links"],
  comparisons: ["comparison", "comparisons"],
  notifications: ["notification", "notifications"],
  webhookJobs: ["webhook delivery", "webhook deliveries"],
  reviewQueueItems: ["review queue item", "review queue items"],
  liveJobs: ["live evaluator job", "live evaluator jobs"],
  evalItems: ["evaluation item", "evaluation items"],
  evalCheckResults: ["evaluation check result", "evaluation check results"],
  conversationItems: ["conversation evaluation item", "conversation evaluation items"],
  snapshotRows: ["dataset snapshot row", "dataset snapshot rows"],
  snapshotsUpdated: ["dataset snapshot updated", "dataset snapshots updated"],
};

const labelOf = (key: string, n: number) => {
  const words = COUNT_LABELS[key as keyof ErasureCounts];
  return words ? words[n === 1 ? 0 : 1] : key;
};

/** The counts that are not zero, as label and number. */
function nonZero(counts: Record<string, number>): Array<[string, number]> {
  return Object.entries(counts).filter(([, n]) => n > 0);
}

function Counts({ counts, testId }: { counts: Record<string, number>; testId: string }) {
  const rows = nonZero(counts);
  if (rows.length === 0) {
    return (
      <p className="muted" data-testid={testId}>
        Nothing stored matches.
      </p>
    );
  }
  return (
    <table className="counts" data-testid={testId}>
      <tbody>
        {rows.map(([k, n]) => (
          <tr key={k} data-count={k}>
            <td className="num">{fmtInt(n)}</td>
            <td>{labelOf(k, n)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function Erase({ onErased }: { onErased: () => void }) {
  const [kind, setKind] = useState<SelectorKind>("userId");
  const [value, setValue] = useState("");
  // The preview belongs to the selector it was made for: a changed selector needs a new one.
  const [preview, setPreview] = useState<{ kind: SelectorKind; value: string; result: ErasureResult }>();
  const [confirmed, setConfirmed] = useState(false);
  const [done, setDone] = useState<{ kind: SelectorKind; value: string; result: ErasureResult }>();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | Error>();

  const url = (k: SelectorKind, v: string, dryRun: boolean) =>
    withQuery(`${SELECTORS[k].path}${seg(v)}`, dryRun ? { dryRun: true } : undefined);

  const run = async (dryRun: boolean) => {
    const v = value.trim();
    setBusy(true);
    setError(undefined);
    try {
      const result = await api.del<ErasureResult>(url(kind, v, dryRun));
      if (dryRun) {
        setPreview({ kind, value: v, result });
        setConfirmed(false);
        setDone(undefined);
      } else {
        setDone({ kind, value: v, result });
        setPreview(undefined);
        setConfirmed(false);
        setValue("");
        onErased();
      }
    } catch (err) {
      setError(err as Error);
    } finally {
      setBusy(false);
    }
  };

  const current = preview && preview.kind === kind && preview.value === value.trim() ? preview : undefined;
  const calls = current ? current.result.counts.calls + current.result.counts.derivedCalls : 0;
  return (
    <Section title="Erase">
      <p className="muted small">
        Erases every call the selector names and what concerns only those calls: their bodies, tags, links,
        annotations and comparisons, notifications, copies, and their rows in dataset snapshots. A user id is
        the clear id your service sends; the server hashes it first when it stores ids hashed. The erasure is
        recorded in the audit log below, without the id.
      </p>
      <form
        className="filters"
        aria-label="erasure selector"
        onSubmit={(e) => {
          e.preventDefault();
          if (value.trim()) void run(true);
        }}
      >
        <label className="field">
          <span>Erase by</span>
          <select name="kind" value={kind} onChange={(e) => setKind(e.target.value as SelectorKind)}>
            {Object.entries(SELECTORS).map(([k, s]) => (
              <option key={k} value={k}>
                {s.label}
              </option>
            ))}
          </select>
        </label>
        <label className="field grow">
          <span>{SELECTORS[kind].label}</span>
          <input
            name="value"
            value={value}
            placeholder={SELECTORS[kind].placeholder}
            autoComplete="off"
            onChange={(e) => setValue(e.target.value)}
          />
        </label>
        <div className="filter-actions">
          <button type="submit" disabled={busy || !value.trim()}>
            Preview
          </button>
        </div>
      </form>
      {error ? <ErrorBox error={error} /> : null}
      {current ? (
        <div className="erasure-preview" data-testid="erasure-preview">
          <p>
            Would erase, for {SELECTORS[current.kind].label.toLowerCase()} <code>{current.value}</code>:
          </p>
          <Counts counts={current.result.counts} testId="erasure-preview-counts" />
          {calls > 0 ? (
            <div className="erasure-confirm">
              <label>
                <input
                  type="checkbox"
                  name="confirm"
                  checked={confirmed}
                  onChange={(e) => setConfirmed(e.target.checked)}
                />{" "}
                I understand that {fmtInt(calls)} call{calls === 1 ? "" : "s"} and what only concerns them
                cannot be restored.
              </label>
              <button
                type="button"
                className="danger"
                disabled={busy || !confirmed}
                onClick={() => void run(false)}
              >
                Erase
              </button>
            </div>
          ) : null}
        </div>
      ) : null}
      {done ? (
        <div className="card-note" data-testid="erasure-result">
          <p>
            Erased, for {SELECTORS[done.kind].label.toLowerCase()} <code>{done.value}</code>:
          </p>
          <Counts counts={done.result.counts} testId="erasure-result-counts" />
        </div>
      ) : null}
    </Section>
  );
}

function AuditRow({ e }: { e: AuditEntry }) {
  const counts = nonZero(e.counts);
  return (
    <tr data-audit-id={e.id}>
      <td className="nowrap">{fmtDateTime(e.at)}</td>
      <td>{e.actor}</td>
      <td>{e.action}</td>
      <td>{SELECTORS[e.selectorKind as SelectorKind]?.label ?? e.selectorKind}</td>
      <td>
        <code title={`SHA-256 of ${e.selectorKind}:<stored value>`}>{e.selectorHash.slice(0, 12)}</code>
      </td>
      <td data-testid="audit-counts">
        {counts.length ? counts.map(([k, n]) => `${fmtInt(n)} ${labelOf(k, n)}`).join(", ") : "nothing"}
      </td>
    </tr>
  );
}

function AuditLog() {
  const [cursor, setCursor] = useState<string | null>(null);
  const [older, setOlder] = useState<AuditEntry[]>([]);
  const { data, error, loading } = useApi<AuditPage>(withQuery("/api/audit", { limit: 50, cursor }));
  const entries = [...older, ...(data?.entries ?? [])];
  return (
    <Section title="Audit log">
      {error ? <ErrorBox error={error} /> : null}
      {loading && !data ? <Loading what="Loading the audit log" /> : null}
      {data && entries.length === 0 ? (
        <p className="muted" data-testid="audit-empty">
          No erasures yet.
        </p>
      ) : null}
      {entries.length > 0 ? (
        <table data-testid="audit-log">
          <thead>
            <tr>
              <th>When</th>
              <th>Who</th>
              <th>Action</th>
              <th>Selector</th>
              <th>Hash</th>
              <th>Counts</th>
            </tr>
          </thead>
          <tbody>
            {entries.map((e) => (
              <AuditRow key={e.id} e={e} />
            ))}
          </tbody>
        </table>
      ) : null}
      {data?.nextCursor ? (
        <button
          type="button"
          onClick={() => {
            setOlder(entries);
            setCursor(data.nextCursor);
          }}
        >
          Older
        </button>
      ) : null}
    </Section>
  );
}

export default function PrivacyPage() {
  const [nonce, setNonce] = useState(0);
  return (
    <div className="page">
      <PageHead
        title="Privacy"
        actions={
          <Link to="/settings" className="muted small">
            Settings
          </Link>
        }
      />
      <Erase onErased={() => setNonce((n) => n + 1)} />
      {/* Remounted after each erasure: the list starts over at the newest entry. */}
      <AuditLog key={nonce} />
    </div>
  );
}
