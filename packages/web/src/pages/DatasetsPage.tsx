import { useMemo, useState } from "react";
import { Link, useNavigate, useSearchParams } from "react-router";
import { type ApiError, api, asApiError, seg } from "../api.ts";
import {
  FilterFields,
  type FilterKey,
  FilterSummary,
  type Filters,
  filtersOf,
} from "../components/CallFilters.tsx";
import { ANY_YES_NO, bindTo, InputField, SelectField } from "../components/Fields.tsx";
import { ErrorBox, Loading, PageHead } from "../components/ui.tsx";
import { fmtDateTime, fmtInt } from "../format.ts";
import { useApi } from "../hooks.ts";
import type { DatasetDetail, DatasetView } from "../types.ts";

/** What a dataset filters on beyond the calls list: conditions on the resolved annotations. */
interface Extra {
  where: string;
  name: string;
  hasCorrection: string;
  hasComparison: string;
}

const NAME_RULE = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

function CreateForm({ initial, onCancel }: { initial: Filters; onCancel(): void }) {
  const navigate = useNavigate();
  const [name, setName] = useState("");
  const [description, setDescription] = useState("");
  const [draft, setDraft] = useState<Filters>(initial);
  const [extra, setExtra] = useState<Extra>({ where: "", name: "", hasCorrection: "", hasComparison: "" });
  const [saving, setSaving] = useState(false);
  const [error, setError] = useState<ApiError>();
  const set = (k: FilterKey, v: string) => setDraft((d) => ({ ...d, [k]: v }));
  const setX = (k: keyof Extra, v: string) => setExtra((x) => ({ ...x, [k]: v }));
  const bindX = bindTo(extra, setX);
  const nameProblem =
    name && !NAME_RULE.test(name)
      ? "letters, digits, '.', '_' or '-', starting with a letter or digit"
      : null;

  const submit = async () => {
    setSaving(true);
    setError(undefined);
    const filter: Record<string, string> = {};
    for (const [k, v] of Object.entries({ ...draft, ...extra })) if (v) filter[k] = v.trim();
    try {
      const created = await api.post<DatasetView>("/api/datasets", {
        name: name.trim(),
        description: description.trim() || undefined,
        filter,
      });
      navigate(`/datasets/${seg(created.name)}`);
    } catch (err) {
      setError(asApiError(err));
      setSaving(false);
    }
  };

  return (
    <form
      className="card dataset-form"
      data-testid="dataset-form"
      onSubmit={(e) => {
        e.preventDefault();
        void submit();
      }}
    >
      <header className="card-head">
        <h2>New dataset</h2>
      </header>
      <div className="form-grid">
        <InputField
          label="Name"
          name="name"
          value={name}
          required
          maxLength={100}
          placeholder="e.g. support-thumbs-up"
          onValue={setName}
          aria-invalid={nameProblem ? true : undefined}
          after={nameProblem ? <span className="error-text small">{nameProblem}</span> : null}
        />
        <InputField
          label="Description"
          className="grow"
          name="description"
          value={description}
          placeholder="what these calls are for (optional)"
          onValue={setDescription}
        />
      </div>
      <h3>Calls</h3>
      <div className="filters inline">
        <FilterFields draft={draft} set={set} models={[]} />
      </div>
      <h3>Annotations</h3>
      <div className="filters inline">
        <InputField
          label="Conditions"
          {...bindX("where")}
          className="grow"
          placeholder="e.g. reward >= 1 and has correction"
        />
        <InputField label="Reward name" {...bindX("name", "rewardName")} placeholder="reward" />
        <SelectField label="Has a correction" {...bindX("hasCorrection")}>
          {ANY_YES_NO}
        </SelectField>
        <SelectField label="Has a pairwise choice" {...bindX("hasComparison")}>
          {ANY_YES_NO}
        </SelectField>
      </div>
      <p className="muted small">
        Conditions are joined by <code>and</code>: <code>reward &gt;= 1</code>,{" "}
        <code>helpful &gt;= 4 by human</code>, <code>source = judge</code>, <code>has correction</code>,{" "}
        <code>has comparison</code>. A reward name other than <code>reward</code> also keeps only the calls
        that have such an annotation.
      </p>
      {error ? <ErrorBox error={error} title="Not saved" /> : null}
      <div className="row">
        <button type="submit" className="primary" disabled={saving || !name.trim() || Boolean(nameProblem)}>
          {saving ? "Saving…" : "Save dataset"}
        </button>
        <button type="button" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}

/** The dataset's size, loaded per row (the list itself has no counts). */
function SizeCell({ name }: { name: string }) {
  const { data, error } = useApi<DatasetDetail>(`/api/datasets/${seg(name)}`);
  if (error)
    return (
      <span className="muted" title={error.message}>
        ?
      </span>
    );
  if (!data) return <span className="muted">…</span>;
  return <span data-testid="dataset-size-cell">{fmtInt(data.size)}</span>;
}

export default function DatasetsPage() {
  const [params, setParams] = useSearchParams();
  const creating = params.get("create") === "1";
  const initial = useMemo(() => filtersOf(params), [params]);
  const { data, error, loading } = useApi<{ data: DatasetView[] }>("/api/datasets");
  const rows = data?.data ?? [];
  const openForm = (open: boolean) =>
    setParams(open ? new URLSearchParams({ create: "1" }) : new URLSearchParams());

  return (
    <div className="page wide">
      <PageHead
        title="Datasets"
        explanation="Saved filters over your calls and their annotations, to export for fine-tuning or to evaluate a model on."
        actions={
          creating ? null : (
            <button type="button" className="primary" onClick={() => openForm(true)}>
              New dataset
            </button>
          )
        }
      />
      {creating ? (
        <CreateForm key={params.toString()} initial={initial} onCancel={() => openForm(false)} />
      ) : null}
      {error ? <ErrorBox error={error} /> : null}
      {loading && !data ? <Loading what="Loading datasets" /> : null}
      {data && rows.length === 0 && !creating ? (
        <div className="empty" data-testid="datasets-empty">
          <h2>No datasets yet</h2>
          <p>
            A dataset is a named filter: which calls, judged how. Filter the <Link to="/">calls list</Link>{" "}
            and press <strong>Save filter as dataset</strong>, or{" "}
            <button type="button" className="small-button" onClick={() => openForm(true)}>
              create one here
            </button>
            .
          </p>
          <p className="muted">
            From a terminal: <code>intersebd datasets create thumbs-up --where 'reward &gt;= 1'</code>
          </p>
        </div>
      ) : null}
      {rows.length > 0 ? (
        <div className="table-wrap">
          <table className="datasets" data-testid="datasets-table">
            <thead>
              <tr>
                <th>Name</th>
                <th className="num">Calls</th>
                <th>Filter</th>
                <th>Description</th>
                <th>Updated</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((d) => (
                <tr key={d.id} data-dataset={d.name}>
                  <td className="nowrap">
                    <Link to={`/datasets/${seg(d.name)}`}>{d.name}</Link>
                  </td>
                  <td className="num">{rows.length <= 50 ? <SizeCell name={d.name} /> : "—"}</td>
                  <td>
                    <FilterSummary filter={d.filter} />
                  </td>
                  <td>{d.description ?? <span className="muted">—</span>}</td>
                  <td className="nowrap">{fmtDateTime(d.updatedAt)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
    </div>
  );
}
