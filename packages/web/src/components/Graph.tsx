import type { ReactNode } from "react";
import { Link } from "react-router";
import { seg } from "../api.ts";
import { compact, fmtDateTime, pretty } from "../format.ts";
import type { ComparisonView, LinkView, ResolvedAnnotation } from "../types.ts";
import { RewardValue } from "./ui.tsx";

function Metadata({ value }: { value: Record<string, unknown> | null }) {
  if (!value || Object.keys(value).length === 0) return null;
  return (
    <dl className="metadata">
      {Object.entries(value).map(([k, v]) => (
        <div key={k} className="metadata-row">
          <dt>{k}</dt>
          <dd>{typeof v === "object" && v !== null ? <code>{compact(v)}</code> : String(v)}</dd>
        </div>
      ))}
    </dl>
  );
}

/**
 * The links that lead from a call's own tags to the service's objects, as an indented tree
 * (a tag reached twice is shown once in full, then named).
 */
export function TagTree({ roots, links }: { roots: string[]; links: LinkView[] }) {
  const children = new Map<string, LinkView[]>();
  for (const l of links) {
    const list = children.get(l.upstreamTag) ?? [];
    list.push(l);
    children.set(l.upstreamTag, list);
  }
  const shown = new Set<string>();
  const render = (tag: string): ReactNode => {
    const out = children.get(tag) ?? [];
    if (shown.has(tag)) return null;
    shown.add(tag);
    if (out.length === 0) return null;
    return (
      <ul className="tree">
        {out.map((l) => (
          <li key={`${l.upstreamTag}→${l.downstreamTag}`} data-tag={l.downstreamTag}>
            <span className="tree-edge" aria-hidden="true">
              ↳
            </span>{" "}
            <Link to={`/?tag=${seg(l.downstreamTag)}`} className="tag" title="Calls of this tag">
              {l.downstreamTag}
            </Link>
            <Metadata value={l.metadata} />
            {shown.has(l.downstreamTag) && (children.get(l.downstreamTag)?.length ?? 0) > 0 ? (
              <span className="muted small"> (see above)</span>
            ) : (
              render(l.downstreamTag)
            )}
          </li>
        ))}
      </ul>
    );
  };
  const trees = roots.map((r) => ({ root: r, tree: render(r) })).filter((t) => t.tree !== null);
  const orphan = links.filter((l) => !shown.has(l.upstreamTag));
  if (trees.length === 0 && orphan.length === 0) {
    return (
      <p className="muted small">
        No links yet. Link this call to your own objects with{" "}
        <code>intersebd.link({"{ upstreamTag: r.id, downstreamTag: reply.id }"})</code>.
      </p>
    );
  }
  return (
    <div className="tag-tree">
      {trees.map((t) => (
        <div key={t.root} className="tree-root">
          <code className="tag root">{t.root}</code>
          {t.tree}
        </div>
      ))}
      {orphan.length > 0 ? (
        <ul className="tree">
          {orphan.map((l) => (
            <li key={`${l.upstreamTag}→${l.downstreamTag}`}>
              <code className="tag">{l.upstreamTag}</code> → <code className="tag">{l.downstreamTag}</code>
              <Metadata value={l.metadata} />
            </li>
          ))}
        </ul>
      ) : null}
    </div>
  );
}

export function AnnotationList({
  annotations,
  badge,
}: {
  annotations: ResolvedAnnotation[];
  /** Something to show beside an annotation's source (a judge's agreement with people). */
  badge?: (a: ResolvedAnnotation) => ReactNode;
}) {
  if (annotations.length === 0) {
    return (
      <p className="muted small">
        No annotations yet. Give one with{" "}
        <code>intersebd.annotate({"{ annotationKey, numericReward: 1 }"})</code>, or ask someone to judge.
      </p>
    );
  }
  return (
    <ul className="annotations">
      {annotations.map((a) => (
        <li key={a.id} className="annotation" data-source={a.source} data-name={a.name}>
          <div className="annotation-head">
            <strong>{a.name}</strong> <RewardValue value={a.numericReward} />
            <span className={`badge source-${a.source}`}>{a.source}</span>
            {badge?.(a)}
            {a.annotatorId ? <span className="annotator">by {a.annotatorId}</span> : null}
          </div>
          {a.comment ? <div className="annotation-comment">“{a.comment}”</div> : null}
          {a.correction !== null && a.correction !== undefined ? (
            <div className="annotation-correction">
              <span className="muted small">correction:</span>
              <pre className="json">
                {typeof a.correction === "string"
                  ? a.correction
                  : (((a.correction as { content?: unknown }).content as string | undefined) ??
                    pretty(a.correction))}
              </pre>
            </div>
          ) : null}
          {a.content !== null && a.content !== undefined ? (
            <div className="small">
              <span className="muted">content: </span>
              <code>{compact(a.content)}</code>
            </div>
          ) : null}
          {a.data !== null && a.data !== undefined ? (
            <div className="small">
              <span className="muted">data: </span>
              <code>{compact(a.data)}</code>
            </div>
          ) : null}
          <div
            className="annotation-path small muted"
            title="the chain of tags from the call to the annotated key"
          >
            via {a.path.length > 0 ? a.path.join(" → ") : a.annotationKey}
            {a.depth > 0 ? ` (${a.depth} link${a.depth > 1 ? "s" : ""})` : " (on the call itself)"} ·{" "}
            {fmtDateTime(a.createdAt)}
          </div>
        </li>
      ))}
    </ul>
  );
}

export function ComparisonList({ comparisons, self }: { comparisons: ComparisonView[]; self: string[] }) {
  if (comparisons.length === 0) return <p className="muted small">Not compared with another call yet.</p>;
  return (
    <ul className="comparisons">
      {comparisons.map((c) => {
        const selfIsA = self.includes(c.a);
        const won = c.choice === "tie" ? "tie" : (c.choice === "a") === selfIsA ? "won" : "lost";
        const other = selfIsA ? c.b : c.a;
        return (
          <li key={c.id} data-choice={c.choice}>
            <span className={`badge ${won === "won" ? "ok" : won === "lost" ? "bad" : "neutral"}`}>
              {won === "tie" ? "tie" : won}
            </span>{" "}
            against{" "}
            <Link to={`/calls/${seg(other)}`} className="tag">
              {other}
            </Link>{" "}
            <Link to={`/compare?a=${seg(c.a)}&b=${seg(c.b)}`} className="small">
              (open)
            </Link>
            {c.reason ? <div className="small">“{c.reason}”</div> : null}
            <div className="small muted">
              {c.source}
              {c.annotatorId ? ` · ${c.annotatorId}` : ""} · {fmtDateTime(c.createdAt)}
            </div>
          </li>
        );
      })}
    </ul>
  );
}
