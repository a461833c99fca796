import { useState } from "react";
import { Link, useNavigate, useParams } from "react-router";
import { type ApiError, api, asApiError, seg } from "../api.ts";
import { Conversation } from "../components/Conversation.tsx";
import { AnnotationList, ComparisonList, TagTree } from "../components/Graph.tsx";
import { AgreementBadge, useJudgeAgreement } from "../components/JudgeBits.tsx";
import { OriginalBodies, ProtocolBadge } from "../components/ProtocolBits.tsx";
import { CopyButton, ErrorBox, Fact, JsonBlock, Loading, OutcomeBadge, Section } from "../components/ui.tsx";
import { compact, fmtCost, fmtDateTime, fmtInt, fmtMs, modelOf, tagOf } from "../format.ts";
import { RECIPIENT_KEY, useApi, useStoredString } from "../hooks.ts";
import type { CallDetail, NotificationView, Rubric } from "../types.ts";

function Facts({ call }: { call: CallDetail }) {
  const u = call.usage;
  return (
    <dl className="facts" data-testid="facts">
      <Fact label="Started">{fmtDateTime(call.startedAt)}</Fact>
      <Fact label="Duration">{fmtMs(call.durationMs)}</Fact>
      <Fact label="Time to first token">{call.stream ? fmtMs(call.ttftMs) : "— (not streamed)"}</Fact>
      <Fact label="Status">
        <OutcomeBadge outcome={call.outcome} status={call.status} /> {call.status ?? ""}
      </Fact>
      <Fact label="Model">
        {call.requestedModel ?? "—"}
        {call.servedModel && call.servedModel !== call.requestedModel ? ` → ${call.servedModel}` : ""}
      </Fact>
      <Fact label="Upstream">
        {call.upstream} <span className="muted small">{call.path}</span>
      </Fact>
      <Fact label="Protocol">
        <ProtocolBadge protocol={call.protocol} always />
      </Fact>
      <Fact label="Stream">{call.stream ? "yes" : "no"}</Fact>
      <Fact label="Tokens">
        {fmtInt(u.totalTokens)}{" "}
        <span className="muted small">
          ({fmtInt(u.promptTokens)} in
          {u.cachedTokens ? `, ${fmtInt(u.cachedTokens)} cached` : ""} · {fmtInt(u.completionTokens)} out
          {u.reasoningTokens ? `, ${fmtInt(u.reasoningTokens)} reasoning` : ""})
        </span>
      </Fact>
      <Fact label="Cost">{fmtCost(call.costUsd)}</Fact>
      <Fact label="Session">
        {call.sessionId ? <Link to={`/sessions/${seg(call.sessionId)}`}>{call.sessionId}</Link> : "—"}
      </Fact>
      <Fact label="User">
        {call.userId ? <Link to={`/?userId=${seg(call.userId)}`}>{call.userId}</Link> : "—"}
      </Fact>
      <Fact label="Tags">
        {call.tags.length
          ? call.tags.map((t) => (
              <Link key={t} to={`/?tag=${seg(t)}`} className="tag">
                {t}
              </Link>
            ))
          : "—"}
      </Fact>
      {Object.keys(call.metadata ?? {}).length ? (
        <Fact label="Metadata">
          <code className="small">{compact(call.metadata)}</code>
        </Fact>
      ) : null}
      <Fact label="Capture">
        {call.capture} · {call.source}
      </Fact>
      {call.error ? (
        <Fact label="Error">
          <span className="error-text">{call.error}</span>
        </Fact>
      ) : null}
    </dl>
  );
}

function Parameters({ call }: { call: CallDetail }) {
  const req = call.request ?? {};
  const entries = Object.entries(req).filter(([k]) => k !== "messages" && k !== "tools");
  if (entries.length === 0) return <p className="muted small">No parameters stored.</p>;
  return (
    <dl className="params" data-testid="parameters">
      {entries.map(([k, v]) => (
        <div key={k} className="fact">
          <dt>{k}</dt>
          <dd>{typeof v === "object" && v !== null ? <JsonBlock value={v} /> : <code>{String(v)}</code>}</dd>
        </div>
      ))}
    </dl>
  );
}

/** "Ask someone to judge": creates a notification for a recipient and shows its link. */
function AskToJudge({ call, onCreated }: { call: CallDetail; onCreated(n: NotificationView): void }) {
  const [lastRecipient] = useStoredString(RECIPIENT_KEY);
  const [recipient, setRecipient] = useState("");
  const [message, setMessage] = useState("");
  const [rubric, setRubric] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError>();
  const [created, setCreated] = useState<NotificationView>();
  const rubrics = useApi<{ data: Rubric[] } | Rubric[]>("/api/rubrics");
  const rubricList = Array.isArray(rubrics.data) ? rubrics.data : (rubrics.data?.data ?? []);
  return (
    <form
      className="ask"
      aria-label="ask someone to judge"
      onSubmit={async (e) => {
        e.preventDefault();
        setBusy(true);
        setError(undefined);
        try {
          const n = await api.post<NotificationView>("/api/notifications", {
            completionId: tagOf(call),
            sendNotificationTo: recipient.trim(),
            message: message.trim() || undefined,
            rubric: rubric || undefined,
          });
          setCreated(n);
          onCreated(n);
        } catch (err) {
          setError(asApiError(err));
        } finally {
          setBusy(false);
        }
      }}
    >
      <label className="field">
        <span>Recipient</span>
        <input
          name="recipient"
          required
          value={recipient}
          placeholder={lastRecipient || "ana"}
          onChange={(e) => setRecipient(e.target.value)}
        />
      </label>
      <label className="field">
        <span>Message (optional)</span>
        <input
          name="message"
          value={message}
          placeholder="Is this answer right?"
          onChange={(e) => setMessage(e.target.value)}
        />
      </label>
      <label className="field">
        <span>Rubric</span>
        <select name="rubric" value={rubric} onChange={(e) => setRubric(e.target.value)}>
          <option value="">default</option>
          {rubricList.map((r) => (
            <option key={r.name} value={r.name}>
              {r.name}
            </option>
          ))}
        </select>
      </label>
      <div className="row">
        <button type="submit" className="primary" disabled={busy || !recipient.trim()}>
          {busy ? "Sending…" : "Send"}
        </button>
      </div>
      {error ? <ErrorBox error={error} /> : null}
      {created ? (
        <div className="notice" data-testid="notification-created">
          Asked <strong>{created.recipient}</strong>. Their link:{" "}
          {created.url ? (
            <>
              <a href={created.url} data-testid="notification-url">
                {created.url}
              </a>{" "}
              <CopyButton text={created.url} />
            </>
          ) : (
            <span className="muted">(the server gave no link)</span>
          )}
        </div>
      ) : null}
    </form>
  );
}

/** Who was asked to judge this call, with each request's state and its webhook delivery. */
function Notifications({ call }: { call: CallDetail }) {
  // The call detail may carry them; else the notifications API filtered by the call's ids.
  const tags = [call.id, ...(call.completionId ? [call.completionId] : [])].join(",");
  const loaded = useApi<{ data: NotificationView[] }>(
    call.notifications ? null : `/api/notifications?completionId=${seg(tags)}&limit=50`,
  );
  const [revoked, setRevoked] = useState<Record<string, NotificationView>>({});
  const [error, setError] = useState<ApiError>();
  const list: NotificationView[] = (call.notifications ?? loaded.data?.data ?? []).map(
    (n) => revoked[n.id] ?? n,
  );
  if (loaded.error) return <ErrorBox error={loaded.error} />;
  if (list.length === 0) return <p className="muted small">Nobody has been asked to judge this call.</p>;
  return (
    <>
      {error ? <ErrorBox error={error} /> : null}
      <ul className="notifications" data-testid="notifications">
        {list.map((n) => (
          <li key={n.id} data-status={n.status}>
            <span
              className={`badge ${n.status === "done" ? "ok" : n.status === "open" ? "neutral" : "warn"}`}
            >
              {n.status}
            </span>{" "}
            <strong>{n.recipient}</strong>
            {n.rubric && n.rubric !== "default" ? (
              <span className="muted small"> · rubric {n.rubric}</span>
            ) : null}
            {n.status === "open" ? (
              <button
                type="button"
                className="small-button"
                onClick={async () => {
                  try {
                    const r = await api.post<NotificationView>(`/api/notifications/${seg(n.id)}/revoke`, {});
                    setRevoked((m) => ({ ...m, [n.id]: r }));
                  } catch (err) {
                    setError(asApiError(err));
                  }
                }}
              >
                Revoke
              </button>
            ) : null}
            {n.message ? <div className="small">“{n.message}”</div> : null}
            {n.url && n.status === "open" ? (
              <div className="small">
                <a href={n.url}>{n.url}</a> <CopyButton text={n.url} />
              </div>
            ) : null}
            <div className="small muted">
              asked {fmtDateTime(n.createdAt)}
              {n.doneAt ? ` · answered ${fmtDateTime(n.doneAt)}` : ""}
              {n.delivery
                ? ` · webhook ${n.delivery.status}${n.delivery.attempts ? ` (${n.delivery.attempts} attempt${n.delivery.attempts > 1 ? "s" : ""})` : ""}${n.delivery.lastError ? `: ${n.delivery.lastError}` : ""}`
                : ""}
            </div>
          </li>
        ))}
      </ul>
    </>
  );
}

export default function CallPage() {
  const { id = "" } = useParams();
  const navigate = useNavigate();
  const { data: call, error, loading, reload } = useApi<CallDetail>(`/api/calls/${seg(id)}`);
  const [asking, setAsking] = useState(false);
  const [asked, setAsked] = useState(0);
  const judges = useJudgeAgreement();
  if (loading && !call) return <Loading what="Loading the call" />;
  if (error) {
    return (
      <div className="page">
        <h1>Call {id}</h1>
        <ErrorBox error={error} />
        <p>
          <Link to="/">Back to the calls</Link>
        </p>
      </div>
    );
  }
  if (!call) return null;
  const roots = [call.id, ...(call.completionId ? [call.completionId] : []), ...call.tags];
  return (
    <div className="page wide call-page" data-call-id={call.id}>
      <header className="page-head">
        <div>
          <h1>
            {modelOf(call)} <OutcomeBadge outcome={call.outcome} status={call.status} />
            <ProtocolBadge protocol={call.protocol} />
          </h1>
          <div className="ids small">
            <span className="muted">id</span> <code>{call.id}</code> <CopyButton text={call.id} />
            {call.completionId ? (
              <>
                {" "}
                <span className="muted">completion</span> <code>{call.completionId}</code>{" "}
                <CopyButton text={call.completionId} />
              </>
            ) : null}
          </div>
        </div>
        <div className="row">
          <button
            type="button"
            className="primary"
            onClick={() => setAsking((a) => !a)}
            aria-expanded={asking}
          >
            Ask someone to judge
          </button>
          <button type="button" onClick={() => navigate(`/compare?a=${seg(tagOf(call))}`)}>
            Compare with…
          </button>
        </div>
      </header>
      {asking ? (
        <section className="card">
          <AskToJudge
            call={call}
            onCreated={() => {
              setAsked((n) => n + 1);
              reload();
            }}
          />
        </section>
      ) : null}
      <div className="split">
        <div className="split-main">
          <Section title="Conversation">
            <Conversation request={call.request} response={call.response} error={call.error} />
          </Section>
          <Section title="Parameters">
            <Parameters call={call} />
          </Section>
          <OriginalBodies call={call} />
        </div>
        <aside className="split-side">
          <Section title="Call">
            <Facts call={call} />
          </Section>
          <Section title={`Tag graph (${call.links.length} link${call.links.length === 1 ? "" : "s"})`}>
            <TagTree roots={roots} links={call.links} />
          </Section>
          <Section title={`Annotations (${call.annotations.length})`}>
            <AnnotationList
              annotations={call.annotations}
              badge={(a) => {
                const judge = a.source === "judge" ? judges.get(a.name) : undefined;
                return judge ? <AgreementBadge judge={judge} /> : null;
              }}
            />
          </Section>
          <Section title={`Comparisons (${call.comparisons.length})`}>
            <ComparisonList comparisons={call.comparisons} self={roots} />
          </Section>
          <Section title="Asked to judge">
            <Notifications key={asked} call={call} />
          </Section>
        </aside>
      </div>
    </div>
  );
}
