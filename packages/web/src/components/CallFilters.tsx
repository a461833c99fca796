import { fromLocalInput, toLocalInput } from "../format.ts";
import { ANY_YES_NO, bindTo, InputField, SelectField } from "./Fields.tsx";

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
  const bind = bindTo(draft, set);
  // Selects apply at once where the form applies on change.
  const bindNow = bindTo(draft, applyNow);
  const text = (k: FilterKey, label: string, placeholder?: string, list?: string) => (
    <InputField label={label} {...bind(k)} placeholder={placeholder} list={list} />
  );
  // The reward bounds: numbers, in a narrow field.
  const reward = (k: "minReward" | "maxReward", label: string) => (
    <InputField label={label} className="narrow" {...bind(k)} type="number" step="any" />
  );
  // The time bounds: the browser's local date and time, kept as ISO.
  const time = (k: "from" | "to", label: string) => (
    <InputField
      label={label}
      name={k}
      type="datetime-local"
      value={toLocalInput(draft[k] ?? null)}
      onValue={(v) => set(k, fromLocalInput(v))}
    />
  );
  return (
    <>
      <InputField
        label="Search"
        className="grow"
        {...bind("q")}
        type="search"
        placeholder="text in the request or response"
      />
      {text("model", "Model", "any", "models-seen")}
      <datalist id="models-seen">
        {models.map((m) => (
          <option key={m} value={m} />
        ))}
      </datalist>
      <SelectField label="Outcome" {...bindNow("outcome")}>
        <option value="">any</option>
        {OUTCOMES.map((o) => (
          <option key={o} value={o}>
            {o.replace(/_/g, " ")}
          </option>
        ))}
      </SelectField>
      <SelectField label="Annotated" {...bindNow("annotated")}>
        {ANY_YES_NO}
      </SelectField>
      {text("sessionId", "Session")}
      {text("userId", "User")}
      {text("tag", "Tag")}
      {reward("minReward", "Reward ≥")}
      {reward("maxReward", "Reward ≤")}
      {time("from", "From")}
      {time("to", "To")}
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
