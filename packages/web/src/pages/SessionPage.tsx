import { useEffect, useState } from "react";
import { Link, useParams } from "react-router";
import { ApiError, api, asApiError, seg } from "../api.ts";
import { Conversation } from "../components/Conversation.tsx";
import { AnnotationBadge, ErrorBox, Loading, OutcomeBadge } from "../components/ui.tsx";
import { fmtCost, fmtDateTime, fmtInt, fmtMs, modelOf } from "../format.ts";
import type { CallDetail, CallView, ChatMessage, Page } from "../types.ts";

/** Loads the full views of calls that came as list rows, a few at a time. */
async function withBodies(calls: CallView[]): Promise<CallView[]> {
  const out = [...calls];
  let i = 0;
  const worker = async () => {
    while (i < out.length) {
      const k = i++;
      const c = out[k] as CallView;
      if (c.request !== undefined) continue;
      try {
        out[k] = { ...c, ...(await api.get<CallDetail>(`/api/calls/${seg(c.id)}`)) };
      } catch {}
    }
  };
  await Promise.all([worker(), worker(), worker(), worker()]);
  return out;
}

async function loadSession(id: string): Promise<CallView[]> {
  let calls: CallView[];
  try {
    calls = (await api.get<{ sessionId: string; calls: CallView[] }>(`/api/sessions/${seg(id)}`)).calls;
  } catch (err) {
    if (!(err instanceof ApiError && err.isMissingRoute)) throw err;
    // A server without the sessions API: the calls list filtered by session does the same, newest first.
    calls = (await api.get<Page<CallView>>("/api/calls", { sessionId: id, limit: 200 })).data;
  }
  calls = [...calls].sort((a, b) => Date.parse(a.startedAt) - Date.parse(b.startedAt));
  return withBodies(calls.slice(0, 200));
}

const same = (a: ChatMessage | undefined, b: ChatMessage | undefined) =>
  a !== undefined &&
  b !== undefined &&
  a.role === b.role &&
  JSON.stringify(a.content) === JSON.stringify(b.content);

/** How many of a call's messages the previous call (its request and its answer) already showed. */
function alreadyShown(prev: CallView | undefined, cur: CallView): number {
  const pm = prev?.request?.messages;
  const cm = cur.request?.messages;
  if (!Array.isArray(pm) || !Array.isArray(cm) || cm.length < pm.length) return 0;
  for (let i = 0; i < pm.length; i++) if (!same(pm[i], cm[i])) return 0;
  const answer = prev?.response?.choices?.[0]?.message;
  const next = cm[pm.length];
  return answer && next && next.role === "assistant" ? pm.length + 1 : pm.length;
}

export default function SessionPage() {
  const { id = "" } = useParams();
  const [calls, setCalls] = useState<CallView[]>();
  const [error, setError] = useState<ApiError>();
  useEffect(() => {
    let live = true;
    setCalls(undefined);
    setError(undefined);
    loadSession(id).then(
      (c) => live && setCalls(c),
      (err: unknown) => live && setError(asApiError(err)),
    );
    return () => {
      live = false;
    };
  }, [id]);
  const total = calls?.reduce((s, c) => s + (c.costUsd ?? 0), 0) ?? 0;
  const tokens = calls?.reduce((s, c) => s + (c.usage.totalTokens ?? 0), 0) ?? 0;
  return (
    <div className="page">
      <header className="page-head">
        <div>
          <h1>Session {id}</h1>
          {calls && calls.length > 0 ? (
            <div className="muted small">
              {calls.length} call{calls.length === 1 ? "" : "s"} · {fmtDateTime(calls[0]?.startedAt)} ·{" "}
              {fmtInt(tokens)} tokens · {fmtCost(total)}
            </div>
          ) : null}
        </div>
        <div className="row">
          <Link to={`/?sessionId=${seg(id)}`}>As a list</Link>
          <Link to="/sessions">All sessions</Link>
        </div>
      </header>
      {error ? <ErrorBox error={error} /> : null}
      {!calls && !error ? <Loading what="Loading the session" /> : null}
      {calls && calls.length === 0 ? <div className="empty">No calls in this session.</div> : null}
      {calls?.map((c, i) => (
        <section key={c.id} className="card session-call" data-call-id={c.id}>
          <header className="card-head">
            <h2>
              <Link to={`/calls/${seg(c.id)}`}>
                #{i + 1} {modelOf(c)}
              </Link>{" "}
              <OutcomeBadge outcome={c.outcome} status={c.status} />
            </h2>
            <span className="muted small">
              {fmtDateTime(c.startedAt)} · {fmtMs(c.durationMs)} · {fmtInt(c.usage.totalTokens)} tokens{" "}
              {c.annotationCount ? <AnnotationBadge count={c.annotationCount} mean={c.meanReward} /> : null}
            </span>
          </header>
          {c.request !== undefined ? (
            <Conversation
              request={c.request}
              response={c.response}
              error={c.error}
              skip={alreadyShown(calls[i - 1], c)}
              showTools={i === 0}
            />
          ) : (
            <div className="preview">
              {c.preview?.input} → {c.preview?.output}
            </div>
          )}
        </section>
      ))}
    </div>
  );
}
