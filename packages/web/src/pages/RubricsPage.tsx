import { useEffect, useState } from "react";
import { Link, useNavigate, useParams } from "react-router";
import { type ApiError, api, asApiError, seg } from "../api.ts";
import { ErrorBox, Loading, PageHead } from "../components/ui.tsx";
import { useApi } from "../hooks.ts";
import type { Rubric, RubricDefinition, RubricField, RubricFieldType } from "../types.ts";

const TYPES: RubricFieldType[] = ["boolean", "scale", "choice", "text", "correction"];

function labelsText(labels: RubricField["labels"]): string {
  if (!labels) return "";
  if (Array.isArray(labels)) return labels.join(", ");
  return Object.values(labels).join(", ");
}

/** "useless, poor, ok, good, great": the scale's labels, from min to max. */
function parseLabels(text: string): string[] | undefined {
  const parts = text
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  return parts.length ? parts : undefined;
}

interface DraftField extends RubricField {
  labelsText: string;
  optionsText: string;
}

const toDraft = (f: RubricField): DraftField => ({
  ...f,
  labelsText: labelsText(f.labels),
  optionsText: (f.options ?? []).join(", "),
});

function fromDraft(d: DraftField): RubricField {
  const { labelsText: lt, optionsText: ot, ...f } = d;
  const out: RubricField = { name: f.name.trim(), type: f.type };
  if (f.label?.trim()) out.label = f.label.trim();
  if (f.description?.trim()) out.description = f.description.trim();
  if (f.required) out.required = true;
  if (f.type === "scale") {
    out.min = Number.isFinite(f.min) ? f.min : 1;
    out.max = Number.isFinite(f.max) ? f.max : 5;
    const labels = parseLabels(lt);
    if (labels) out.labels = labels;
  }
  if (f.type === "choice") {
    out.options = ot
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean);
  }
  return out;
}

/** One end of a scale field's range, a small number input. */
function ScaleEnd({ end, value, onValue }: { end: "min" | "max"; value: number; onValue(v: number): void }) {
  return (
    <input
      aria-label={end}
      type="number"
      className="tiny"
      value={value}
      onChange={(e) => onValue(Number(e.target.value))}
    />
  );
}

function Editor({
  rubric,
  isNew,
  onSaved,
}: {
  rubric: RubricDefinition;
  isNew: boolean;
  onSaved(r: RubricDefinition): void;
}) {
  const [name, setName] = useState(rubric.name);
  const [description, setDescription] = useState(rubric.description ?? "");
  const [fields, setFields] = useState<DraftField[]>(rubric.fields.map(toDraft));
  const [saving, setSaving] = useState(false);
  const [error, setError] = useState<ApiError>();
  const [saved, setSaved] = useState(false);
  useEffect(() => {
    setName(rubric.name);
    setDescription(rubric.description ?? "");
    setFields(rubric.fields.map(toDraft));
    setSaved(false);
    setError(undefined);
  }, [rubric]);

  const update = (i: number, patch: Partial<DraftField>) => {
    setSaved(false);
    setFields((fs) => fs.map((f, k) => (k === i ? { ...f, ...patch } : f)));
  };
  const move = (i: number, by: number) =>
    setFields((fs) => {
      const j = i + by;
      if (j < 0 || j >= fs.length) return fs;
      const copy = [...fs];
      [copy[i], copy[j]] = [copy[j] as DraftField, copy[i] as DraftField];
      return copy;
    });

  return (
    <form
      className="card rubric-editor"
      data-testid="rubric-editor"
      onSubmit={async (e) => {
        e.preventDefault();
        setSaving(true);
        setError(undefined);
        const body: RubricDefinition = {
          name: name.trim(),
          description: description.trim() || undefined,
          fields: fields.map(fromDraft),
        };
        try {
          const r = await api.put<Rubric>(`/api/rubrics/${seg(name.trim())}`, body);
          setSaved(true);
          onSaved(r && typeof r === "object" && "fields" in r ? r : body);
        } catch (err) {
          setError(asApiError(err));
        } finally {
          setSaving(false);
        }
      }}
    >
      <div className="row">
        <label className="field">
          <span>Name</span>
          <input
            name="name"
            value={name}
            required
            pattern="[A-Za-z0-9][A-Za-z0-9_.\-]*"
            title="letters, digits, _ . - (starting with a letter or digit)"
            readOnly={!isNew}
            onChange={(e) => setName(e.target.value)}
          />
        </label>
        <label className="field grow">
          <span>Description</span>
          <input name="description" value={description} onChange={(e) => setDescription(e.target.value)} />
        </label>
      </div>
      <h3>Fields</h3>
      <p className="muted small">
        Each answered field becomes an annotation named after the field. Boolean answers are stored as reward
        1 (yes) or 0 (no), scales as their number.
      </p>
      <table className="fields-table">
        <thead>
          <tr>
            <th>Name</th>
            <th>Type</th>
            <th>Label</th>
            <th>Settings</th>
            <th>Required</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {fields.map((f, i) => (
            // biome-ignore lint/suspicious/noArrayIndexKey: fields are edited in place, by position
            <tr key={i} data-field-row={f.name}>
              <td>
                <input
                  aria-label="field name"
                  value={f.name}
                  required
                  onChange={(e) => update(i, { name: e.target.value })}
                />
              </td>
              <td>
                <select
                  aria-label="field type"
                  value={f.type}
                  onChange={(e) => update(i, { type: e.target.value as RubricFieldType })}
                >
                  {TYPES.map((t) => (
                    <option key={t} value={t}>
                      {t}
                    </option>
                  ))}
                </select>
              </td>
              <td>
                <input
                  aria-label="field label"
                  value={f.label ?? ""}
                  onChange={(e) => update(i, { label: e.target.value })}
                />
              </td>
              <td>
                {f.type === "scale" ? (
                  <div className="row tight">
                    <ScaleEnd end="min" value={f.min ?? 1} onValue={(min) => update(i, { min })} />
                    –
                    <ScaleEnd end="max" value={f.max ?? 5} onValue={(max) => update(i, { max })} />
                    <input
                      aria-label="labels"
                      placeholder="labels, min to max: bad, ok, great"
                      value={f.labelsText}
                      onChange={(e) => update(i, { labelsText: e.target.value })}
                    />
                  </div>
                ) : f.type === "choice" ? (
                  <input
                    aria-label="options"
                    placeholder="options: a, b, c"
                    value={f.optionsText}
                    onChange={(e) => update(i, { optionsText: e.target.value })}
                  />
                ) : (
                  <span className="muted small">—</span>
                )}
              </td>
              <td>
                <input
                  type="checkbox"
                  aria-label="required"
                  checked={Boolean(f.required)}
                  onChange={(e) => update(i, { required: e.target.checked })}
                />
              </td>
              <td className="nowrap">
                <button
                  type="button"
                  className="small-button"
                  onClick={() => move(i, -1)}
                  aria-label="move up"
                >
                  ↑
                </button>
                <button
                  type="button"
                  className="small-button"
                  onClick={() => move(i, 1)}
                  aria-label="move down"
                >
                  ↓
                </button>
                <button
                  type="button"
                  className="small-button"
                  onClick={() => setFields((fs) => fs.filter((_, k) => k !== i))}
                  aria-label="remove"
                >
                  ✕
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <div className="row">
        <button
          type="button"
          onClick={() =>
            setFields((fs) => [
              ...fs,
              toDraft({ name: `field${fs.length + 1}`, type: "scale", min: 1, max: 5 }),
            ])
          }
        >
          Add a field
        </button>
        <button type="submit" className="primary" disabled={saving || fields.length === 0}>
          {saving ? "Saving…" : "Save rubric"}
        </button>
        {saved ? (
          <span className="ok-text" data-testid="rubric-saved">
            Saved
          </span>
        ) : null}
      </div>
      {error ? <ErrorBox error={error} /> : null}
    </form>
  );
}

const NEW_RUBRIC: RubricDefinition = {
  name: "",
  description: "",
  fields: [
    { name: "quality", type: "scale", min: 1, max: 5, label: "How good is the answer?" },
    { name: "comment", type: "text" },
  ],
};

export default function RubricsPage() {
  const { name } = useParams();
  const navigate = useNavigate();
  const { data, error, loading, reload } = useApi<{ data: Rubric[] } | Rubric[]>("/api/rubrics");
  const list = Array.isArray(data) ? data : (data?.data ?? []);
  const isNew = name === "new";
  const selected = isNew ? NEW_RUBRIC : list.find((r) => r.name === name);
  return (
    <div className="page wide">
      <PageHead
        title="Rubrics"
        explanation={
          <>
            Named feedback forms. A notification may name one:{" "}
            <code>{'intersebd.notify({ completionId, sendNotificationTo, rubric: "quality" })'}</code>.
          </>
        }
        actions={
          <Link to="/rubrics/new" className="button">
            New rubric
          </Link>
        }
      />
      {error ? <ErrorBox error={error} /> : null}
      {loading && !data ? <Loading what="Loading rubrics" /> : null}
      <div className="split">
        <aside className="split-side narrow-side">
          <ul className="rubric-list" data-testid="rubric-list">
            {list.map((r) => (
              <li key={r.name} className={r.name === name ? "active" : ""}>
                <Link to={`/rubrics/${seg(r.name)}`}>{r.name}</Link>
                {typeof r.source === "string" ? <span className="muted small"> · {r.source}</span> : null}
                <div className="muted small">{r.fields.map((f) => `${f.name} (${f.type})`).join(", ")}</div>
              </li>
            ))}
          </ul>
        </aside>
        <div className="split-main">
          {selected ? (
            <Editor
              rubric={selected}
              isNew={isNew}
              onSaved={(r) => {
                reload();
                if (isNew) navigate(`/rubrics/${seg(r.name)}`);
              }}
            />
          ) : name && data ? (
            <ErrorBox error={`No rubric named "${name}"`} />
          ) : (
            <p className="muted">Choose a rubric to edit it, or make a new one.</p>
          )}
        </div>
      </div>
    </div>
  );
}
