import { useCallback, useEffect, useState } from "react";
import { Link, useSearchParams } from "react-router";
import { ApiError, api, asApiError, seg } from "../api.ts";
import { Conversation } from "../components/Conversation.tsx";
import { InputField, TextAreaField } from "../components/Fields.tsx";
import { ErrorBox, Kbd, Loading, OutcomeBadge, PageHead } from "../components/ui.tsx";
import { fmtCost, fmtInt, fmtMs, fmtTime, modelOf, previewOut, tagOf } from "../format.ts";
import { isTyping, RECIPIENT_KEY, useKeys, useStoredString } from "../hooks.ts";
import type { CallDetail, CallView, ComparisonView, Page } from "../types.ts";

/** The call a tag names: a call id or completion id directly, else the first call the tag resolves to. */
async function callOfTag(tag: string): Promise<CallDetail> {
  try {
    return await api.get<CallDetail>(`/api/calls/${seg(tag)}`);
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 404)) throw err;
    const t = await api.get<{ calls: CallView[] }>(`/api/tags/${seg(tag)}`);
    const first = t.calls[0];
    if (!first) throw new ApiError(404, `no call is linked to the tag "${tag}"`);
    return api.get<CallDetail>(`/api/calls/${seg(first.id)}`);
  }
}

function useCallOf(tag: string | null) {
  const [call, setCall] = useState<CallDetail>();
  const [error, setError] = useState<ApiError>();
  useEffect(() => {
    setCall(undefined);
    setError(undefined);
    if (!tag) return;
    let live = true;
    callOfTag(tag).then(
      (c) => live && setCall(c),
      (err: unknown) => live && setError(asApiError(err)),
    );
    return () => {
      live = false;
    };
  }, [tag]);
  return { call, error };
}

/** Picks a call for one side: by typed id or tag, or from recent calls (those with the same input first). */
function Picker({
  side,
  other,
  onPick,
}: {
  side: "a" | "b";
  other: CallDetail | undefined;
  onPick(tag: string): void;
}) {
  const [draft, setDraft] = useState("");
  const [recent, setRecent] = useState<CallView[]>();
  useEffect(() => {
    api.get<Page<CallView>>("/api/calls", { limit: 30 }).then(
      (p) => setRecent(p.data),
      () => setRecent([]),
    );
  }, []);
  const otherInput = other?.request?.messages
    ? JSON.stringify(other.request.messages.filter((m) => m.role === "user").at(-1)?.content ?? null)
    : null;
  const candidates = (recent ?? [])
    .filter((c) => !other || c.id !== other.id)
    .map((c) => ({ c, same: otherInput !== null && JSON.stringify(c.preview?.input ?? null) === otherInput }))
    .sort((x, y) => Number(y.same) - Number(x.same));
  return (
    <div className="picker" data-testid={`picker-${side}`}>
      <form
        className="row"
        onSubmit={(e) => {
          e.preventDefault();
          if (draft.trim()) onPick(draft.trim());
        }}
      >
        <label className="field grow">
          <span>Call {side.toUpperCase()}: id, completion id or tag</span>
          <input
            name={side}
            value={draft}
            onChange={(e) => setDraft(e.target.value)}
            placeholder="chatcmpl-…"
          />
        </label>
        <button type="submit">Use</button>
      </form>
      {recent === undefined ? <Loading what="Loading recent calls" /> : null}
      {candidates.length > 0 ? (
        <ul className="pick-list">
          {candidates.slice(0, 12).map(({ c, same }) => (
            <li key={c.id}>
              <button type="button" className="link-like" onClick={() => onPick(tagOf(c))}>
                <span className="nowrap">{fmtTime(c.startedAt)}</span> · <strong>{modelOf(c)}</strong>
                {same ? <span className="badge ok">same input</span> : null}
                <span className="muted small preview">
                  {" "}
                  {c.preview?.input} → {previewOut(c.preview?.output)}
                </span>
              </button>
            </li>
          ))}
        </ul>
      ) : null}
    </div>
  );
}

function Side({
  side,
  tag,
  call,
  error,
  chosen,
  onPick,
  other,
}: {
  side: "a" | "b";
  tag: string | null;
  call: CallDetail | undefined;
  error: ApiError | undefined;
  chosen: boolean;
  onPick(tag: string | null): void;
  other: CallDetail | undefined;
}) {
  return (
    <section className={`card compare-side ${chosen ? "chosen" : ""}`} data-side={side}>
      <header className="card-head">
        <h2>
          {side.toUpperCase()}
          {call ? (
            <>
              {" "}
              · <Link to={`/calls/${seg(call.id)}`}>{modelOf(call)}</Link>{" "}
              <OutcomeBadge outcome={call.outcome} status={call.status} />
            </>
          ) : null}
        </h2>
        {tag ? (
          <button type="button" className="small-button" onClick={() => onPick(null)}>
            Change
          </button>
        ) : null}
      </header>
      {!tag ? <Picker side={side} other={other} onPick={onPick} /> : null}
      {error ? <ErrorBox error={error} /> : null}
      {tag && !call && !error ? <Loading what="Loading the call" /> : null}
      {call ? (
        <>
          <div className="muted small compare-facts">
            {fmtMs(call.durationMs)} · {fmtInt(call.usage.totalTokens)} tokens · {fmtCost(call.costUsd)} ·{" "}
            <code>{tag}</code>
          </div>
          <Conversation request={call.request} response={call.response} error={call.error} />
        </>
      ) : null}
    </section>
  );
}

const CHOICE_LABEL = { a: "A is better", b: "B is better", tie: "Tie" } as const;

/**
 * A conversation evaluation's item (`?conv=<id>&item=<index>&criteria=a|b|c`): one choice per criterion, a tie
 * allowed, stored as comparisons with their criterion through the conversations API.
 */
function CriteriaForm({
  conv,
  item,
  criteria,
  a,
}: {
  conv: string;
  item: string;
  criteria: string[];
  a: string;
}) {
  const [choices, setChoices] = useState<Record<string, "a" | "b" | "tie">>({});
  const [me, setMe] = useStoredString(RECIPIENT_KEY);
  const [saved, setSaved] = useState(false);
  const [error, setError] = useState<string>();
  const complete = criteria.every((c) => choices[c]);
  if (saved)
    return (
      <section className="card thanks" data-testid="comparison-saved">
        <h2>Saved: one choice per criterion</h2>
        <Link to={`/conversations/evals/${seg(conv)}`}>Back to the report</Link>
      </section>
    );
  return (
    <form
      className="card compare-form"
      data-testid="criteria-form"
      onSubmit={(e) => {
        e.preventDefault();
        if (!complete) return;
        api
          .post(`/api/conversations/evals/${seg(conv)}/items/${seg(item)}/choices`, {
            a,
            choices,
            annotatorId: me.trim() || undefined,
          })
          .then(
            () => setSaved(true),
            (err: unknown) => setError(err instanceof Error ? err.message : String(err)),
          );
      }}
    >
      {criteria.map((c) => (
        <div className="choice-row" key={c} data-criterion={c}>
          <strong>{c}</strong>
          {(["a", "tie", "b"] as const).map((x) => (
            <button
              key={x}
              type="button"
              data-choice={x}
              className={`big-choice ${choices[c] === x ? "selected" : ""}`}
              aria-pressed={choices[c] === x}
              onClick={() => setChoices({ ...choices, [c]: x })}
            >
              {CHOICE_LABEL[x]}
            </button>
          ))}
        </div>
      ))}
      <label className="field">
        <span>Your id</span>
        <input name="annotatorId" value={me} placeholder="e.g. ana" onChange={(e) => setMe(e.target.value)} />
      </label>
      {error ? <ErrorBox error={error} /> : null}
      <button type="submit" className="primary" disabled={!complete}>
        Save choices
      </button>
    </form>
  );
}

export default function ComparePage() {
  const [params, setParams] = useSearchParams();
  const a = params.get("a");
  const b = params.get("b");
  const A = useCallOf(a);
  const B = useCallOf(b);
  const [choice, setChoice] = useState<"a" | "b" | "tie">();
  const [reason, setReason] = useState("");
  const [me, setMe] = useStoredString(RECIPIENT_KEY);
  const [saving, setSaving] = useState(false);
  const [error, setError] = useState<string>();
  const [saved, setSaved] = useState<ComparisonView>();

  // biome-ignore lint/correctness/useExhaustiveDependencies: a new pair starts a new judgement
  useEffect(() => {
    setChoice(undefined);
    setReason("");
    setSaved(undefined);
    setError(undefined);
  }, [a, b]);

  const pick = (side: "a" | "b", tag: string | null) => {
    const p = new URLSearchParams(params);
    if (tag) p.set(side, tag);
    else p.delete(side);
    setParams(p);
  };

  const ready = Boolean(a && b && A.call && B.call);
  const conv = params.get("conv");
  const item = params.get("item");
  const criteria = params.get("criteria");
  // A conversation item is judged per criterion; the single-choice shortcuts would store a comparison without one.
  const perCriterion = Boolean(conv && item && criteria);
  const submit = useCallback(async () => {
    if (!a || !b || !choice || saving || saved) return;
    setSaving(true);
    setError(undefined);
    try {
      const r = await api.post<ComparisonView>("/api/comparisons", {
        a,
        b,
        choice,
        reason: reason.trim() || undefined,
        annotatorId: me.trim() || undefined,
        source: "human",
      });
      setSaved(r);
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    } finally {
      setSaving(false);
    }
  }, [a, b, choice, reason, me, saving, saved]);

  const onKey = useCallback(
    (e: KeyboardEvent) => {
      if (isTyping(e) || saved) return;
      if (e.key === "a" || e.key === "b" || e.key === "t") {
        e.preventDefault();
        setChoice(e.key === "t" ? "tie" : e.key);
      } else if (e.key === "Enter" && choice) {
        const t = e.target as HTMLElement;
        if (t.tagName === "BUTTON" && !t.dataset.choice) return;
        e.preventDefault();
        void submit();
      }
    },
    [saved, choice, submit],
  );
  useKeys(onKey, ready && !perCriterion);

  return (
    <div className="page wide">
      <PageHead
        title="Compare"
        actions={
          a && b ? (
            <button
              type="button"
              onClick={() => {
                const p = new URLSearchParams(params);
                p.set("a", b);
                p.set("b", a);
                setParams(p);
              }}
            >
              Swap A and B
            </button>
          ) : null
        }
      />
      <div className="compare">
        <Side
          side="a"
          tag={a}
          call={A.call}
          error={A.error}
          chosen={choice === "a"}
          onPick={(t) => pick("a", t)}
          other={B.call}
        />
        <Side
          side="b"
          tag={b}
          call={B.call}
          error={B.error}
          chosen={choice === "b"}
          onPick={(t) => pick("b", t)}
          other={A.call}
        />
      </div>
      {ready && perCriterion ? (
        <CriteriaForm
          conv={conv as string}
          item={item as string}
          criteria={(criteria as string).split("|").filter(Boolean)}
          a={a as string}
        />
      ) : ready ? (
        saved ? (
          <section className="card thanks" data-testid="comparison-saved">
            <h2>Saved: {CHOICE_LABEL[saved.choice as "a" | "b" | "tie"] ?? saved.choice}</h2>
            <p className="muted small">
              Stored as a pairwise annotation on both calls.{" "}
              <Link to={`/calls/${seg(a as string)}`}>Open A</Link> ·{" "}
              <Link to={`/calls/${seg(b as string)}`}>Open B</Link>
            </p>
          </section>
        ) : (
          <form
            className="card compare-form"
            data-testid="compare-form"
            onSubmit={(e) => {
              e.preventDefault();
              void submit();
            }}
          >
            <div className="choice-row">
              {(["a", "tie", "b"] as const).map((c) => (
                <button
                  key={c}
                  type="button"
                  data-choice={c}
                  className={`big-choice ${choice === c ? "selected" : ""}`}
                  aria-pressed={choice === c}
                  onClick={() => setChoice(c)}
                >
                  {CHOICE_LABEL[c]} <Kbd>{c === "tie" ? "t" : c}</Kbd>
                </button>
              ))}
            </div>
            <TextAreaField
              label="Reason (optional)"
              className="block"
              name="reason"
              rows={2}
              value={reason}
              onValue={setReason}
            />
            <InputField
              label="Your id"
              name="annotatorId"
              value={me}
              placeholder="e.g. ana"
              onValue={setMe}
            />
            {error ? <ErrorBox error={error} /> : null}
            <div className="row">
              <button type="submit" className="primary" disabled={!choice || saving}>
                {saving ? "Saving…" : "Save choice"} <Kbd>Enter</Kbd>
              </button>
              <span className="muted small">Keys: a / b / t, then Enter.</span>
            </div>
          </form>
        )
      ) : null}
    </div>
  );
}
