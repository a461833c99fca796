import { fromLocalInput, toLocalInput } from "../format.ts";

/** The calls list's filters: URL query parameters, named as `GET /api/calls` (and a dataset's filter) names them. */
export const FILTER_KEYS = [
  "model",
  "outcome",
  "sessionId",
  "userId",
  "tag",
  "annotated",
  "minReward",
  "maxReward",
  "from",
  "to",
  "q",
] as const;
export type FilterKey = (typeof FILTER_KEYS)[number];
export type Filters = Partial<Record<FilterKey, string>>;

export const OUTCOMES = ["ok", "upstream_error", "network_error", "client_aborted", "timeout"];

export function filtersOf(params: URLSearchParams | Record<string, unknown>): Filters {
  const f: Filters = {};
  for (const k of FILTER_KEYS) {
    const v = params instanceof URLSearchParams ? params.get(k) : params[k];
    if (v !== undefined && v !== null && v !== "") f[k] = String(v);
  }
  return f;
}

export function queryOf(f: Filters): string {
  const qs = new URLSearchParams();
  for (const k of FILTER_KEYS) if (f[k]) qs.set(k, f[k] as string);
  return qs.toString();
}

/**
 * The filter fields of the calls list, for a form that owns the draft: `set` changes a field, `applyNow`
 * (selects) changes it and applies at once where the form applies on change.
 */
export function FilterFields({
  draft,
  set,
  applyNow = set,
  models,
}: {
  draft: Filters;
  set(k: FilterKey, v: string): void;
  applyNow?(k: FilterKey, v: string): void;
  models: string[];
}) {
  const text = (k: FilterKey, label: string, placeholder?: string, list?: string) => (
    <label className="field">
      <span>{label}</span>
      <input
        name={k}
        value={draft[k] ?? ""}
        placeholder={placeholder}
        list={list}
        onChange={(e) => set(k, e.target.value)}
      />
    </label>
  );
  return (
    <>
      <label className="field grow">
        <span>Search</span>
        <input
          name="q"
          type="search"
          value={draft.q ?? ""}
          placeholder="text in the request or response"
          onChange={(e) => set("q", e.target.value)}
        />
      </label>
      {text("model", "Model", "any", "models-seen")}
      <datalist id="models-seen">
        {models.map((m) => (
          <option key={m} value={m} />
        ))}
      </datalist>
      <label className="field">
        <span>Outcome</span>
        <select
          name="outcome"
          value={draft.outcome ?? ""}
          onChange={(e) => applyNow("outcome", e.target.value)}
        >
          <option value="">any</option>
          {OUTCOMES.map((o) => (
            <option key={o} value={o}>
              {o.replace(/_/g, " ")}
            </option>
          ))}
        </select>
      </label>
      <label className="field">
        <span>Annotated</span>
        <select
          name="annotated"
          value={draft.annotated ?? ""}
          onChange={(e) => applyNow("annotated", e.target.value)}
        >
          <option value="">any</option>
          <option value="true">yes</option>
          <option value="false">no</option>
        </select>
      </label>
      {text("sessionId", "Session")}
      {text("userId", "User")}
      {text("tag", "Tag")}
      <label className="field narrow">
        <span>Reward ≥</span>
        <input
          name="minReward"
          type="number"
          step="any"
          value={draft.minReward ?? ""}
          onChange={(e) => set("minReward", e.target.value)}
        />
      </label>
      <label className="field narrow">
        <span>Reward ≤</span>
        <input
          name="maxReward"
          type="number"
          step="any"
          value={draft.maxReward ?? ""}
          onChange={(e) => set("maxReward", e.target.value)}
        />
      </label>
      <label className="field">
        <span>From</span>
        <input
          name="from"
          type="datetime-local"
          value={toLocalInput(draft.from ?? null)}
          onChange={(e) => set("from", fromLocalInput(e.target.value))}
        />
      </label>
      <label className="field">
        <span>To</span>
        <input
          name="to"
          type="datetime-local"
          value={toLocalInput(draft.to ?? null)}
          onChange={(e) => set("to", fromLocalInput(e.target.value))}
        />
      </label>
    </>
  );
}

const LABELS: Record<string, string> = {
  q: "text",
  model: "model",
  outcome: "outcome",
  annotated: "annotated",
  sessionId: "session",
  userId: "user",
  tag: "tag",
  minReward: "reward ≥",
  maxReward: "reward ≤",
  from: "from",
  to: "to",
  where: "where",
  name: "annotation",
  hasCorrection: "has correction",
  hasComparison: "has pairwise choice",
  annotationSource: "annotation source",
  upstream: "upstream",
  status: "status",
  source: "source",
};

/** A saved filter as a row of tags ("model gpt-4o-mini", "reward ≥ 1"); "all calls" when empty. */
export function FilterSummary({ filter }: { filter: Record<string, unknown> }) {
  const entries = Object.entries(filter).filter(([, v]) => v !== undefined && v !== null && v !== "");
  if (entries.length === 0) return <span className="muted">all calls</span>;
  return (
    <span className="filter-summary" data-testid="filter-summary">
      {entries.map(([k, v]) => {
        let value = String(v);
        if ((k === "from" || k === "to") && !Number.isNaN(Date.parse(value)))
          value = new Date(value).toLocaleString();
        if (k === "annotated" || k === "hasCorrection" || k === "hasComparison")
          value = value === "true" || value === "1" ? "yes" : "no";
        return (
          <span className="tag" key={k} data-key={k}>
            {LABELS[k] ?? k} {value}
          </span>
        );
      })}
    </span>
  );
}
