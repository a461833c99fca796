import { lazy, Suspense, useCallback, useEffect, useMemo, useRef, useState } from "react";
import { Link, useNavigate, useSearchParams } from "react-router";
import { type ApiError, api, asApiError, getApiKey, seg } from "../api.ts";
import {
  FilterFields,
  type FilterKey,
  type Filters,
  filtersOf,
  queryOf,
} from "../components/CallFilters.tsx";
import { ProtocolBadge } from "../components/ProtocolBits.tsx";
import { AnnotationBadge, CopyButton, ErrorBox, Loading, OutcomeBadge, PageHead } from "../components/ui.tsx";
import { fmtCost, fmtInt, fmtMs, fmtTime, modelOf, previewOut } from "../format.ts";
import type { CallView, Page } from "../types.ts";

const LatencyChart = lazy(() => import("../components/LatencyChart.tsx"));

const PAGE_SIZE = 50;

function Onboarding() {
  const origin = window.location.origin;
  // This server wants its own key on the proxy too (the browser has one saved): the snippets send it.
  const keyed = Boolean(getApiKey());
  const ts = keyed
    ? `import OpenAI from "openai";\n\nconst client = new OpenAI({\n  baseURL: "${origin}/v1",\n  defaultHeaders: { "x-intersebd-key": process.env.INTERSEBD_API_KEY },\n});`
    : `import OpenAI from "openai";\n\nconst client = new OpenAI({ baseURL: "${origin}/v1" });`;
  const py = keyed
    ? `import os\nfrom openai import OpenAI\n\nclient = OpenAI(\n    base_url="${origin}/v1",\n    default_headers={"x-intersebd-key": os.environ["INTERSEBD_API_KEY"]},\n)`
    : `from openai import OpenAI\n\nclient = OpenAI(base_url="${origin}/v1")`;
  const curl = `curl ${origin}/v1/chat/completions \\\n  -H "Authorization: Bearer $OPENAI_API_KEY" \\\n${keyed ? '  -H "x-intersebd-key: $INTERSEBD_API_KEY" \\\n' : ""}  -H "content-type: application/json" \\\n  -d '{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hello"}]}'`;
  return (
    <div className="empty onboarding" data-testid="onboarding">
      <h2>No calls yet</h2>
      <p>
        Point your service's OpenAI client at this proxy: every Chat Completions call through it is stored
        here, with its request, answer, usage, cost and timing. Your API key is forwarded to the provider and
        never stored.
      </p>
      <h3>TypeScript / JavaScript</h3>
      <div className="code-with-copy">
        <pre className="code">
          <code data-testid="baseurl-line">{ts}</code>
        </pre>
        <CopyButton text={ts} />
      </div>
      <h3>Python</h3>
      <div className="code-with-copy">
        <pre className="code">
          <code>{py}</code>
        </pre>
        <CopyButton text={py} />
      </div>
      <h3>curl</h3>
      <div className="code-with-copy">
        <pre className="code">
          <code>{curl}</code>
        </pre>
        <CopyButton text={curl} />
      </div>
      <p className="muted">
        Tag calls with the headers <code>x-intersebd-session-id</code>, <code>x-intersebd-user-id</code> and{" "}
        <code>x-intersebd-tags</code>; then link and annotate them with the <code>intersebd</code> SDK.
      </p>
    </div>
  );
}

function FilterForm({
  filters,
  onApply,
  models,
}: {
  filters: Filters;
  onApply(f: Filters): void;
  models: string[];
}) {
  const [draft, setDraft] = useState<Filters>(filters);
  useEffect(() => setDraft(filters), [filters]);
  const set = (k: FilterKey, v: string) => setDraft((d) => ({ ...d, [k]: v }));
  const applyNow = (k: FilterKey, v: string) => {
    const next = { ...draft, [k]: v };
    setDraft(next);
    onApply(next);
  };
  return (
    <form
      className="filters"
      aria-label="filters"
      onSubmit={(e) => {
        e.preventDefault();
        onApply(draft);
      }}
    >
      <FilterFields draft={draft} set={set} applyNow={applyNow} models={models} />
      <div className="filter-actions">
        <button type="submit" className="primary">
          Apply
        </button>
        <button
          type="button"
          onClick={() => {
            setDraft({});
            onApply({});
          }}
        >
          Clear
        </button>
      </div>
    </form>
  );
}

function CallRow({ call }: { call: CallView }) {
  const navigate = useNavigate();
  const href = `/calls/${seg(call.id)}`;
  return (
    <tr
      data-call-id={call.id}
      data-model={modelOf(call)}
      className="clickable"
      onClick={(e) => {
        if ((e.target as HTMLElement).closest("a,button")) return;
        if (window.getSelection()?.toString()) return;
        navigate(href);
      }}
    >
      <td className="nowrap">
        <Link to={href} title={call.startedAt}>
          {fmtTime(call.startedAt)}
        </Link>
      </td>
      <td className="nowrap model">
        {modelOf(call)}
        <ProtocolBadge protocol={call.protocol} />
        {call.stream ? (
          <span className="muted small" title="streamed">
            {" "}
            ⇢
          </span>
        ) : null}
      </td>
      <td>
        <OutcomeBadge outcome={call.outcome} status={call.status} />
      </td>
      <td className="num nowrap">{fmtMs(call.durationMs)}</td>
      <td className="num nowrap">{fmtInt(call.usage.totalTokens)}</td>
      <td className="num nowrap">{fmtCost(call.costUsd)}</td>
      <td className="preview-cell">
        <div className="preview">
          <span className="preview-in">{call.preview?.input ?? <span className="muted">—</span>}</span>
          <span className="arrow"> → </span>
          <span className="preview-out">
            {previewOut(call.preview?.output) ?? <span className="muted">—</span>}
          </span>
        </div>
      </td>
      <td>
        <AnnotationBadge count={call.annotationCount} mean={call.meanReward} />
      </td>
    </tr>
  );
}

export default function CallsPage() {
  const [params, setParams] = useSearchParams();
  const filters = useMemo(() => filtersOf(params), [params]);
  const qs = queryOf(filters);
  const [rows, setRows] = useState<CallView[]>([]);
  const [next, setNext] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const [loadingMore, setLoadingMore] = useState(false);
  const [error, setError] = useState<ApiError>();
  const [nonce, setNonce] = useState(0);
  const [chart, setChart] = useState(false);
  const [models, setModels] = useState<string[]>([]);

  // biome-ignore lint/correctness/useExhaustiveDependencies: nonce forces a reload
  useEffect(() => {
    const ctl = new AbortController();
    setLoading(true);
    setError(undefined);
    api.get<Page<CallView>>(`/api/calls?${qs}`, { limit: PAGE_SIZE }, ctl.signal).then(
      (page) => {
        setRows(page.data);
        setNext(page.nextCursor);
        setLoading(false);
      },
      (err: unknown) => {
        if (ctl.signal.aborted) return;
        setRows([]);
        setNext(null);
        setError(asApiError(err));
        setLoading(false);
      },
    );
    return () => ctl.abort();
  }, [qs, nonce]);

  useEffect(() => {
    setModels((seen) => {
      const all = new Set(seen);
      for (const r of rows) {
        if (r.requestedModel) all.add(r.requestedModel);
        if (r.servedModel) all.add(r.servedModel);
      }
      return all.size === seen.length ? seen : [...all].sort();
    });
  }, [rows]);

  // The cursor being loaded: the button and the scroll observer may both ask for the same page.
  const inflight = useRef<string | null>(null);
  const currentQs = useRef(qs);
  currentQs.current = qs;
  const loadMore = useCallback(() => {
    if (!next || inflight.current === next) return;
    inflight.current = next;
    setLoadingMore(true);
    api.get<Page<CallView>>(`/api/calls?${qs}`, { limit: PAGE_SIZE, cursor: next }).then(
      (page) => {
        inflight.current = null;
        setLoadingMore(false);
        if (currentQs.current !== qs) return;
        setRows((r) => {
          const seen = new Set(r.map((c) => c.id));
          return [...r, ...page.data.filter((c) => !seen.has(c.id))];
        });
        setNext(page.nextCursor);
      },
      (err: unknown) => {
        setError(asApiError(err));
        setLoadingMore(false);
        inflight.current = null;
      },
    );
  }, [next, qs]);

  // Infinite scroll: the "Load more" button loads the next page by itself when it scrolls into view.
  const sentinel = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    const el = sentinel.current;
    if (!el || typeof IntersectionObserver === "undefined") return;
    const io = new IntersectionObserver((entries) => {
      if (entries.some((e) => e.isIntersecting)) loadMore();
    });
    io.observe(el);
    return () => io.disconnect();
  }, [loadMore]);

  const apply = (f: Filters) => setParams(new URLSearchParams(queryOf(f)));
  const hasFilters = qs !== "";

  return (
    <div className="page wide">
      <PageHead
        title="Calls"
        actions={
          <div className="row">
            {hasFilters || rows.length > 0 ? (
              <Link
                className="button"
                to={`/datasets?create=1${qs ? `&${qs}` : ""}`}
                data-testid="save-dataset"
                title="A dataset is a saved filter: export it for fine-tuning, or evaluate a model on it"
              >
                {hasFilters ? "Save filter as dataset" : "Save as dataset"}
              </Link>
            ) : null}
            <button type="button" onClick={() => setChart((c) => !c)} aria-pressed={chart}>
              {chart ? "Hide chart" : "Latency chart"}
            </button>
            <button type="button" onClick={() => setNonce((n) => n + 1)}>
              Refresh
            </button>
          </div>
        }
      />
      {/* A new user with no calls sees how to start, not a form of filters. */}
      {hasFilters || rows.length > 0 || loading ? (
        <FilterForm filters={filters} onApply={apply} models={models} />
      ) : null}
      {error ? <ErrorBox error={error} /> : null}
      {chart && rows.length > 0 ? (
        <Suspense fallback={<Loading what="Loading the chart" />}>
          <LatencyChart calls={rows} />
        </Suspense>
      ) : null}
      {loading ? (
        <Loading what="Loading calls" />
      ) : rows.length === 0 && !error ? (
        hasFilters ? (
          <div className="empty" data-testid="no-match">
            <h2>No calls match these filters</h2>
            <p>
              <button type="button" onClick={() => apply({})}>
                Clear the filters
              </button>
            </p>
          </div>
        ) : (
          <Onboarding />
        )
      ) : rows.length > 0 ? (
        <>
          <div className="table-wrap">
            <table className="calls" data-testid="calls-table">
              <thead>
                <tr>
                  <th>Time</th>
                  <th>Model</th>
                  <th>Outcome</th>
                  <th className="num">Duration</th>
                  <th className="num">Tokens</th>
                  <th className="num">Cost</th>
                  <th>Input → output</th>
                  <th>Rating</th>
                </tr>
              </thead>
              <tbody>
                {rows.map((c) => (
                  <CallRow key={c.id} call={c} />
                ))}
              </tbody>
            </table>
          </div>
          <div className="list-foot">
            <span className="muted small">
              {rows.length} call{rows.length === 1 ? "" : "s"}
              {next ? " shown" : ""}
            </span>
            {next ? (
              <button type="button" ref={sentinel} onClick={loadMore} disabled={loadingMore}>
                {loadingMore ? "Loading…" : "Load more"}
              </button>
            ) : null}
          </div>
        </>
      ) : null}
    </div>
  );
}
