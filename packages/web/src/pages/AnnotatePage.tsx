import { useCallback, useMemo, useRef, useState } from "react";
import { Link, useLocation, useNavigate, useParams } from "react-router";
import { neighbours, queueOf, queueState } from "../annotate-queue.ts";
import { type ApiError, api, seg } from "../api.ts";
import { answerText, Conversation } from "../components/Conversation.tsx";
import { ErrorBox, Kbd, Loading, Thumb } from "../components/ui.tsx";
import { fmtDateTime, humanize } from "../format.ts";
import { INBOX_CHANGED_EVENT, isTyping, useApi, useKeys } from "../hooks.ts";
import type { AnnotateTask, RubricField } from "../types.ts";

type Answer = boolean | number | string;
type Answers = Record<string, Answer | undefined>;

/** The page shown for a link that cannot be used, saying why and what to do. */
function TokenProblem({ error }: { error: ApiError }) {
  let title = "This link cannot be opened";
  let advice = "Ask the person who sent it for a new one.";
  if (error.status === 401 || error.status === 400) {
    title = "This link is not valid";
    advice =
      "It may have been copied incompletely or changed. Open it again from the original message, or ask the sender for a new one.";
  } else if (error.status === 410) {
    const revoked = /revok|withdrawn|cancel/i.test(error.message);
    title = revoked ? "This link was withdrawn" : "This link has expired";
    advice = revoked
      ? "The request to judge this call was withdrawn by the sender. Nothing more is needed from you."
      : "Links to judge a call are valid for a limited time. Ask the sender for a new one if your answer is still wanted.";
  } else if (error.status === 404) {
    title = "Nothing to judge here";
    advice = "The item this link points to no longer exists.";
  } else if (error.status === 0 || error.status >= 500) {
    title = "The server could not be reached";
    advice = "Try again in a moment.";
  }
  return (
    <div className="page token-problem" data-testid="token-error" data-status={error.status}>
      <h1>{title}</h1>
      <p>{advice}</p>
      <p className="muted small">Server said: {error.message}</p>
    </div>
  );
}

function scaleLabel(field: RubricField, value: number): string | undefined {
  const labels = field.labels;
  if (!labels) return undefined;
  if (Array.isArray(labels)) return labels[value - (field.min ?? 1)];
  return labels[String(value)];
}

function Field({
  field,
  value,
  onChange,
  active,
  onFocus,
  original,
}: {
  field: RubricField;
  value: Answer | undefined;
  onChange(v: Answer | undefined): void;
  active: boolean;
  onFocus(): void;
  original: string;
}) {
  const label = field.label ?? humanize(field.name);
  const req = field.required ? <span className="required"> (required)</span> : null;
  switch (field.type) {
    case "boolean":
      return (
        <fieldset className="rubric-field" data-field={field.name} data-type="boolean">
          <legend>
            {label}
            {req}
          </legend>
          {field.description ? <p className="muted small">{field.description}</p> : null}
          <div className="choice-row">
            <button
              type="button"
              data-option="yes"
              className={`big-choice up ${value === true ? "selected" : ""}`}
              aria-pressed={value === true}
              onClick={() => onChange(value === true ? undefined : true)}
            >
              <Thumb /> Good <Kbd>y</Kbd>
            </button>
            <button
              type="button"
              data-option="no"
              className={`big-choice down ${value === false ? "selected" : ""}`}
              aria-pressed={value === false}
              onClick={() => onChange(value === false ? undefined : false)}
            >
              <Thumb down /> Bad <Kbd>n</Kbd>
            </button>
          </div>
        </fieldset>
      );
    case "scale": {
      const min = field.min ?? 1;
      const max = field.max ?? 5;
      const steps: number[] = [];
      for (let v = min; v <= max && steps.length < 101; v++) steps.push(v);
      return (
        <fieldset
          className={`rubric-field ${active ? "active" : ""}`}
          data-field={field.name}
          data-type="scale"
          onFocus={onFocus}
        >
          <legend>
            {label}
            {req}
          </legend>
          {field.description ? <p className="muted small">{field.description}</p> : null}
          <div className="scale-row">
            {steps.map((v) => (
              <button
                key={v}
                type="button"
                data-option={String(v)}
                className={`scale-choice ${value === v ? "selected" : ""}`}
                aria-pressed={value === v}
                title={scaleLabel(field, v)}
                onClick={() => {
                  onFocus();
                  onChange(value === v ? undefined : v);
                }}
              >
                <span className="scale-value">{v}</span>
                {scaleLabel(field, v) ? <span className="scale-label">{scaleLabel(field, v)}</span> : null}
              </button>
            ))}
          </div>
        </fieldset>
      );
    }
    case "choice":
      return (
        <fieldset className="rubric-field" data-field={field.name} data-type="choice">
          <legend>
            {label}
            {req}
          </legend>
          {field.description ? <p className="muted small">{field.description}</p> : null}
          <div className="choice-row wrap">
            {(field.options ?? []).map((o) => (
              <button
                key={o}
                type="button"
                data-option={o}
                className={`option-choice ${value === o ? "selected" : ""}`}
                aria-pressed={value === o}
                onClick={() => onChange(value === o ? undefined : o)}
              >
                {o}
              </button>
            ))}
          </div>
        </fieldset>
      );
    case "correction":
      return (
        <label className="rubric-field block" data-field={field.name} data-type="correction">
          <span className="legend">
            {field.label ?? (field.name === "correction" ? "What the answer should have been" : label)}
            {req}
          </span>
          <span className="muted small">
            Edit the assistant's answer into the one you expected; left unchanged, no correction is sent.
          </span>
          <textarea
            name={field.name}
            rows={Math.min(16, Math.max(4, original.split("\n").length + 1))}
            value={typeof value === "string" ? value : original}
            onChange={(e) => onChange(e.target.value)}
          />
          {typeof value === "string" && value !== original ? (
            <button type="button" className="small-button" onClick={() => onChange(undefined)}>
              Undo my edits
            </button>
          ) : null}
        </label>
      );
    default:
      return (
        <label className="rubric-field block" data-field={field.name} data-type="text">
          <span className="legend">
            {label}
            {req}
          </span>
          {field.description ? <span className="muted small">{field.description}</span> : null}
          <textarea
            name={field.name}
            rows={3}
            value={typeof value === "string" ? value : ""}
            placeholder={field.name === "comment" ? "Why? (optional)" : ""}
            onChange={(e) => onChange(e.target.value)}
          />
        </label>
      );
  }
}

/**
 * One page per item: keyed by the token, so moving to another item (j/k) starts from nothing — no form, answers or
 * conversation of the item before it while the next one loads, where a keystroke would have answered the new
 * item under the old one's text.
 */
export default function AnnotateRoute() {
  const { token = "" } = useParams();
  return <AnnotatePage key={token} token={token} />;
}

function AnnotatePage({ token }: { token: string }) {
  const navigate = useNavigate();
  const location = useLocation();
  const { data: task, error, loading } = useApi<AnnotateTask>(`/api/a/${seg(token)}`);
  const [answers, setAnswers] = useState<Answers>({});
  const [activeScale, setActiveScale] = useState(0);
  const [saving, setSaving] = useState(false);
  const [saveError, setSaveError] = useState<string>();
  const [saved, setSaved] = useState(false);
  /** Fields this item already had answers for, which the server kept as first given. */
  const [kept, setKept] = useState<string[]>([]);
  const formRef = useRef<HTMLFormElement>(null);

  // j/k walk the inbox's list when the inbox opened this page (history state); a mailed link has none.
  const queue = useMemo(() => queueOf(location.state), [location.state]);
  const around = useMemo(
    () => neighbours(queue, location.pathname, saved),
    [queue, location.pathname, saved],
  );
  const { next, previous } = around;
  const go = useCallback(
    (path: string) => navigate(path, { state: queueState(around.queue) }),
    [navigate, around.queue],
  );

  const fields = task?.rubric?.fields ?? [];
  const response = useMemo(
    () => (task?.conversation?.choices ? { choices: task.conversation.choices } : null),
    [task],
  );
  const original = useMemo(() => answerText(response), [response]);
  const scales = fields.filter((f) => f.type === "scale");
  const booleanField = fields.find((f) => f.type === "boolean");
  const setAnswer = useCallback(
    (name: string, v: Answer | undefined) => setAnswers((a) => ({ ...a, [name]: v })),
    [],
  );

  const submit = useCallback(async () => {
    if (!task || saving || saved) return;
    const out: Record<string, Answer> = {};
    for (const f of fields) {
      const v = answers[f.name];
      if (v === undefined) continue;
      if (typeof v === "string" && v.trim() === "") continue;
      if (f.type === "correction" && v === original) continue;
      out[f.name] = v;
    }
    const missing = fields
      .filter((f) => f.required && out[f.name] === undefined)
      .map((f) => f.label ?? f.name);
    if (missing.length) {
      setSaveError(`Please answer: ${missing.join(", ")}`);
      return;
    }
    if (Object.keys(out).length === 0) {
      setSaveError("Nothing to save yet: give at least one answer.");
      return;
    }
    setSaving(true);
    setSaveError(undefined);
    try {
      // No annotatorId: the server records the answer as the person the link was sent to.
      const r = await api.post<{ unchanged?: string[] } | null>(`/api/a/${seg(token)}/answers`, {
        answers: out,
      });
      setKept(Array.isArray(r?.unchanged) ? r.unchanged : []);
      setSaved(true);
      window.dispatchEvent(new CustomEvent(INBOX_CHANGED_EVENT));
    } catch (err) {
      setSaveError(err instanceof Error ? err.message : String(err));
    } finally {
      setSaving(false);
    }
  }, [task, saving, saved, fields, answers, original, token]);

  const onKey = useCallback(
    (e: KeyboardEvent) => {
      if (!task) return;
      const target = e.target as HTMLElement | null;
      if (e.key === "Enter") {
        if (isTyping(e) || target?.tagName === "A") return;
        if (target?.tagName === "BUTTON" && !target.dataset.option) return;
        e.preventDefault();
        void submit();
        return;
      }
      if (isTyping(e)) return;
      if (e.key === "j" && next) {
        e.preventDefault();
        go(next);
        return;
      }
      if (e.key === "k" && previous) {
        e.preventDefault();
        go(previous);
        return;
      }
      if (saved) return;
      if ((e.key === "y" || e.key === "n") && booleanField) {
        e.preventDefault();
        setAnswer(booleanField.name, e.key === "y");
        return;
      }
      if (/^[0-9]$/.test(e.key) && scales.length) {
        const f = scales[Math.min(activeScale, scales.length - 1)] as RubricField;
        const v = Number(e.key);
        if (v >= (f.min ?? 1) && v <= (f.max ?? 5)) {
          e.preventDefault();
          setAnswer(f.name, v);
          // The next number key goes to the next scale.
          if (activeScale < scales.length - 1) setActiveScale(activeScale + 1);
        }
      }
    },
    [task, submit, next, previous, go, saved, booleanField, scales, activeScale, setAnswer],
  );
  useKeys(onKey, Boolean(task));

  if (loading && !task) return <Loading what="Opening the item" />;
  if (error) return <TokenProblem error={error} />;
  if (!task) return null;

  const n = task.notification;
  const conversation = task.conversation;

  return (
    <div className="page annotate" data-testid="annotate-page">
      <header className="annotate-head">
        <h1>{n.message || "Was this answer good?"}</h1>
        <div className="muted small">Link valid until {fmtDateTime(n.expiresAt)}</div>
        {n.status === "done" && !saved ? (
          <div className="notice" data-testid="already-done">
            Already answered{n.doneAt ? ` on ${fmtDateTime(n.doneAt)}` : ""}. You may answer again.
          </div>
        ) : null}
      </header>

      <section className="card">
        <header className="card-head">
          <h2>The conversation</h2>
        </header>
        {conversation ? (
          <Conversation
            request={conversation.messages ? { messages: conversation.messages } : null}
            response={response}
          />
        ) : (
          <p className="muted">The conversation has not been stored yet. You can still answer.</p>
        )}
      </section>

      {saved ? (
        <section className="card thanks" data-testid="thanks" aria-live="polite">
          <h2>Thanks — saved</h2>
          {kept.length > 0 ? (
            <p className="muted small">
              Already answered before, so kept as first given: {kept.map((f) => humanize(f)).join(", ")}.
            </p>
          ) : null}
          {next ? (
            <p>
              <Link to={next} state={queueState(around.queue)} className="button primary">
                Next item <Kbd>j</Kbd>
              </Link>
            </p>
          ) : queue ? (
            <p>That was the last open item. You can close this page.</p>
          ) : (
            <p>You can close this page.</p>
          )}
        </section>
      ) : (
        <form
          ref={formRef}
          className="card annotate-form"
          data-testid="annotate-form"
          aria-label={task.rubric.name}
          onSubmit={(e) => {
            e.preventDefault();
            void submit();
          }}
          onKeyDown={(e) => {
            // In a text box, Ctrl/⌘+Enter submits (Enter alone is a new line).
            if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
              e.preventDefault();
              void submit();
            }
          }}
        >
          <header className="card-head">
            <h2>{task.rubric.name === "default" ? "Your judgement" : task.rubric.name}</h2>
          </header>
          {task.rubric.description ? (
            <p className="muted rubric-description">{task.rubric.description}</p>
          ) : null}
          {fields.map((f) => (
            <Field
              key={f.name}
              field={f}
              value={answers[f.name]}
              onChange={(v) => setAnswer(f.name, v)}
              active={scales.length > 1 && scales[activeScale]?.name === f.name}
              onFocus={() => setActiveScale(Math.max(0, scales.indexOf(f)))}
              original={original}
            />
          ))}
          {saveError ? <ErrorBox error={saveError} /> : null}
          <div className="row submit-row">
            <button type="submit" className="primary" disabled={saving}>
              {saving ? "Saving…" : "Submit"} <Kbd>Enter</Kbd>
            </button>
            {previous ? (
              <Link to={previous} state={queueState(around.queue)} className="button">
                Previous <Kbd>k</Kbd>
              </Link>
            ) : null}
            {next ? (
              <Link to={next} state={queueState(around.queue)} className="button">
                Skip to next <Kbd>j</Kbd>
              </Link>
            ) : null}
          </div>
          <p className="keys-help muted small">
            Keys: {booleanField ? "y / n good or bad · " : ""}
            {scales.length ? "number keys for the scale · " : ""}Enter submits (Ctrl+Enter in a text box)
            {next ? " · j / k next / previous item" : ""}
          </p>
        </form>
      )}
    </div>
  );
}
