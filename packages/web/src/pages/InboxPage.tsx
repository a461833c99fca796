import { useEffect, useState } from "react";
import { Link, useSearchParams } from "react-router";
import { queueState } from "../annotate-queue.ts";
import { type ApiError, api, asApiError, seg } from "../api.ts";
import { InputField } from "../components/Fields.tsx";
import { ErrorBox, Loading, PageHead } from "../components/ui.tsx";
import { fmtDateTime, previewOut } from "../format.ts";
import { RECIPIENT_KEY, useStoredString } from "../hooks.ts";
import type { Inbox, NotificationView } from "../types.ts";

/** Where an inbox item opens: its annotate page on this origin, else the call. */
export function itemHref(n: NotificationView): string {
  if (n.url) {
    try {
      const u = new URL(n.url, window.location.href);
      if (u.pathname.startsWith("/a/")) return u.pathname + u.search;
    } catch {}
  }
  return `/calls/${seg(n.completionId)}`;
}

function RecipientForm({ recipient, onChange }: { recipient: string; onChange(v: string): void }) {
  const [draft, setDraft] = useState(recipient);
  useEffect(() => setDraft(recipient), [recipient]);
  return (
    <form
      className="row recipient-form"
      onSubmit={(e) => {
        e.preventDefault();
        onChange(draft.trim());
      }}
    >
      <InputField
        label="Inbox of"
        name="recipient"
        value={draft}
        placeholder="your id, e.g. ana"
        onValue={setDraft}
      />
      <button type="submit">Open</button>
    </form>
  );
}

export default function InboxPage() {
  const [params, setParams] = useSearchParams();
  const [stored, setStored] = useStoredString(RECIPIENT_KEY);
  const fromUrl = params.get("recipient");
  const recipient = fromUrl ?? stored;
  const status = params.get("status") === "done" ? "done" : "open";
  const [page, setPage] = useState<Inbox>();
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState<ApiError>();

  useEffect(() => {
    if (fromUrl && fromUrl !== stored) setStored(fromUrl);
  }, [fromUrl, stored, setStored]);

  const load = (cursor?: string) => {
    if (!recipient) return;
    setLoading(true);
    setError(undefined);
    api.get<Inbox>("/api/notifications", { recipient, status, cursor }).then(
      (p) => {
        setPage((prev) => (cursor && prev ? { ...p, data: [...prev.data, ...p.data] } : p));
        setLoading(false);
      },
      (err: unknown) => {
        setError(asApiError(err));
        setLoading(false);
      },
    );
  };
  // biome-ignore lint/correctness/useExhaustiveDependencies: reload when the inbox or tab changes
  useEffect(() => {
    setPage(undefined);
    load();
  }, [recipient, status]);

  // The list handed to each annotate page it opens, for j/k: the server gives a link no other items.
  const queue = (page?.data ?? []).map(itemHref).filter((href) => href.startsWith("/a/"));

  const go = (next: { recipient?: string; status?: string }) => {
    const p = new URLSearchParams();
    const r = next.recipient ?? recipient;
    if (r) p.set("recipient", r);
    const s = next.status ?? status;
    if (s === "done") p.set("status", "done");
    setParams(p);
  };

  return (
    <div className="page">
      <PageHead
        title={<>Inbox{recipient ? ` of ${recipient}` : ""}</>}
        actions={
          <RecipientForm
            recipient={recipient}
            onChange={(v) => {
              setStored(v);
              go({ recipient: v });
            }}
          />
        }
      />
      {!recipient ? (
        <div className="empty">
          <h2>Whose inbox?</h2>
          <p>
            Type your id above (the one your service passes as <code>sendNotificationTo</code>). This browser
            remembers it, and the count of open items shows in the menu.
          </p>
          <pre className="code">
            <code>{'intersebd.notify({ completionId: r.id, sendNotificationTo: "ana" })'}</code>
          </pre>
        </div>
      ) : (
        <>
          <div className="tabs" role="tablist">
            <button
              type="button"
              role="tab"
              aria-selected={status === "open"}
              className={status === "open" ? "active" : ""}
              onClick={() => go({ status: "open" })}
            >
              Open{page?.counts ? ` (${page.counts.open})` : ""}
            </button>
            <button
              type="button"
              role="tab"
              aria-selected={status === "done"}
              className={status === "done" ? "active" : ""}
              onClick={() => go({ status: "done" })}
            >
              Done{page?.counts ? ` (${page.counts.done})` : ""}
            </button>
          </div>
          {error ? <ErrorBox error={error} /> : null}
          {page && page.data.length === 0 ? (
            <div className="empty">
              {status === "open" ? (
                <>
                  <h2>Nothing to judge</h2>
                  <p>
                    No open items for <strong>{recipient}</strong>. When a service calls{" "}
                    <code>{`intersebd.notify({ completionId, sendNotificationTo: "${recipient}" })`}</code>,
                    the call appears here.
                  </p>
                </>
              ) : (
                <p>No answered items yet.</p>
              )}
            </div>
          ) : null}
          {page && page.data.length > 0 ? (
            <ul className="inbox" data-testid="inbox-list">
              {page.data.map((n) => (
                <li key={n.id} data-status={n.status} data-notification-id={n.id}>
                  <Link to={itemHref(n)} state={queueState(queue)} className="inbox-item">
                    <div className="inbox-main">
                      <span className="inbox-message">{n.message || "Please judge this answer"}</span>
                      {n.preview ? (
                        <span className="muted small preview">
                          {n.preview.input} → {previewOut(n.preview.output)}
                        </span>
                      ) : (
                        <span className="muted small">
                          call <code>{n.completionId}</code>
                        </span>
                      )}
                    </div>
                    <div className="inbox-meta small muted">
                      <span className={`badge ${n.status === "done" ? "ok" : "neutral"}`}>{n.status}</span>{" "}
                      {n.rubric ? `${n.rubric} · ` : ""}
                      {fmtDateTime(n.createdAt)}
                      {n.status === "open" && n.expiresAt ? ` · expires ${fmtDateTime(n.expiresAt)}` : ""}
                      {n.doneAt ? ` · answered ${fmtDateTime(n.doneAt)}` : ""}
                    </div>
                  </Link>
                </li>
              ))}
            </ul>
          ) : null}
          {loading ? <Loading what="Loading the inbox" /> : null}
          {page?.nextCursor && !loading ? (
            <div className="list-foot">
              <button type="button" onClick={() => load(page.nextCursor ?? undefined)}>
                Load more
              </button>
            </div>
          ) : null}
        </>
      )}
    </div>
  );
}
