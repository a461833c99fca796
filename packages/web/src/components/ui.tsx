import { type ReactNode, useState } from "react";
import type { ApiError } from "../api.ts";
import { fmtReward, pretty } from "../format.ts";
import type { CursorPages, Loaded } from "../hooks.ts";

/** The server's error message, shown where the content would have been. */
export function ErrorBox({ error, title }: { error: ApiError | Error | string; title?: string }) {
  const message = typeof error === "string" ? error : error.message;
  const status = typeof error === "object" && "status" in error ? (error as ApiError).status : undefined;
  return (
    <div className="error-box" role="alert">
      {title ? <strong>{title}: </strong> : null}
      {message}
      {status === 404 && typeof error === "object" && (error as ApiError).isMissingRoute ? (
        <div className="muted small">This server does not offer this yet.</div>
      ) : null}
    </div>
  );
}

export function Loading({ what = "Loading" }: { what?: string }) {
  return (
    <div className="loading" aria-busy="true">
      {what}…
    </div>
  );
}

/**
 * A page's title row: the `h1`, the `explanation` under it when given (a muted line), and the `actions` on the
 * right (buttons, links, a count).
 */
export function PageHead({
  title,
  explanation,
  actions,
  titleTestId,
}: {
  title: ReactNode;
  explanation?: ReactNode;
  actions?: ReactNode;
  titleTestId?: string;
}) {
  const h1 = <h1 data-testid={titleTestId}>{title}</h1>;
  return (
    <header className="page-head">
      {explanation === undefined ? (
        h1
      ) : (
        <div>
          {h1}
          <p className="muted small">{explanation}</p>
        </div>
      )}
      {actions}
    </header>
  );
}

/** A column heading of `DataTable`: its label, or the label with the heading's class ("num": right-aligned). */
export type Column = string | { label: string; className: string };

/** A numeric column: right-aligned like its cells. */
export const numColumn = (label: string): Column => ({ label, className: "num" });

/** A scrollable table with one row of headings; `children` are its body rows. */
export function DataTable({
  testId,
  columns,
  className,
  children,
}: {
  testId: string;
  columns: Column[];
  className?: string;
  children: ReactNode;
}) {
  return (
    <div className="table-wrap">
      <table className={className} data-testid={testId}>
        <thead>
          <tr>
            {columns.map((c, i) =>
              typeof c === "string" ? (
                // Headings may repeat (or be empty), and never move: the index is their identity.
                // biome-ignore lint/suspicious/noArrayIndexKey: see above
                <th key={i}>{c || null}</th>
              ) : (
                // biome-ignore lint/suspicious/noArrayIndexKey: as above
                <th key={i} className={c.className}>
                  {c.label}
                </th>
              ),
            )}
          </tr>
        </thead>
        <tbody>{children}</tbody>
      </table>
    </div>
  );
}

/** What `useApi` answers, as far as a list page's states need it. */
type ListLoad = Pick<Loaded<unknown>, "data" | "error" | "loading">;

/**
 * A list page's states around its table: the error, loading until the first answer, the `empty` explanation
 * once the list has answered nothing, else `children`.
 */
export function ListStates({
  list: { error, loading, data },
  count,
  loadingWhat,
  emptyTestId,
  empty,
  children,
}: {
  list: ListLoad;
  count: number;
  loadingWhat: string;
  emptyTestId: string;
  empty: ReactNode;
  children: ReactNode;
}) {
  return (
    <>
      {error ? <ErrorBox error={error} /> : null}
      {loading && !data ? <Loading what={loadingWhat} /> : null}
      {data && count === 0 ? (
        <div className="empty" data-testid={emptyTestId}>
          {empty}
        </div>
      ) : null}
      {count > 0 ? children : null}
    </>
  );
}

/**
 * The states of a list read a page at a time (`useCursorPages`): the error, the `empty` explanation once the
 * first page is empty, the rows (`children`), loading (first page or more), and "Load more" while there is more.
 */
export function PagedStates<T>({
  pages: { rows, error, loading, more },
  loadingWhat,
  empty,
  children,
}: {
  pages: CursorPages<T>;
  loadingWhat: string;
  empty: ReactNode;
  children: ReactNode;
}) {
  return (
    <>
      {error ? <ErrorBox error={error} /> : null}
      {!loading && !error && rows.length === 0 ? <div className="empty">{empty}</div> : null}
      {rows.length > 0 ? children : null}
      {loading ? <Loading what={loadingWhat} /> : null}
      {more ? (
        <div className="list-foot">
          <button type="button" onClick={more}>
            Load more
          </button>
        </div>
      ) : null}
    </>
  );
}

const OUTCOME_CLASS: Record<string, string> = {
  ok: "ok",
  upstream_error: "bad",
  network_error: "bad",
  timeout: "warn",
  client_aborted: "warn",
};

export function OutcomeBadge({ outcome, status }: { outcome: string; status?: number | null }) {
  const label = outcome === "ok" ? "ok" : outcome.replace(/_/g, " ");
  return (
    <span className={`badge ${OUTCOME_CLASS[outcome] ?? "neutral"}`} data-outcome={outcome}>
      {label}
      {status && outcome !== "ok" ? ` ${status}` : ""}
    </span>
  );
}

/** The annotations of a call in a list row: how many and their mean reward. */
export function AnnotationBadge({ count, mean }: { count?: number; mean?: number | null }) {
  if (!count) return <span className="muted small">—</span>;
  const cls = mean === null || mean === undefined ? "neutral" : mean >= 0.5 ? "ok" : "bad";
  const icon = mean === 1 ? <Thumb /> : mean === 0 ? <Thumb down /> : null;
  return (
    <span
      className={`badge ${cls}`}
      data-testid="annotation-badge"
      title={`${count} annotation${count === 1 ? "" : "s"}, mean reward ${fmtReward(mean)}`}
    >
      {icon ?? fmtReward(mean)}
      {count > 1 ? ` ×${count}` : ""}
    </span>
  );
}

/** A thumb icon (Material Design's thumb_up path, Apache-2.0), pointing down when `down`. */
export function Thumb({ down = false }: { down?: boolean }) {
  return (
    <svg
      className={`thumb ${down ? "down" : "up"}`}
      viewBox="0 0 24 24"
      width="1em"
      height="1em"
      aria-hidden="true"
      focusable="false"
    >
      <path
        fill="currentColor"
        d="M1 21h4V9H1v12zm22-11c0-1.1-.9-2-2-2h-6.31l.95-4.57.03-.32c0-.41-.17-.79-.44-1.06L14.17 1 7.59 7.59C7.22 7.95 7 8.45 7 9v10c0 1.1.9 2 2 2h9c.83 0 1.54-.5 1.84-1.22l3.02-7.05c.09-.23.14-.47.14-.73v-2z"
      />
    </svg>
  );
}

export function RewardValue({ value }: { value: number | null }) {
  if (value === null) return <span className="muted">—</span>;
  if (value === 1)
    return (
      <span className="reward up" title="reward 1 (thumbs up)">
        <Thumb /> 1
      </span>
    );
  if (value === 0)
    return (
      <span className="reward down" title="reward 0 (thumbs down)">
        <Thumb down /> 0
      </span>
    );
  return <span className="reward">{fmtReward(value)}</span>;
}

export function JsonBlock({ value, className }: { value: unknown; className?: string }) {
  return <pre className={`json ${className ?? ""}`}>{pretty(value)}</pre>;
}

export function CopyButton({ text, label = "Copy" }: { text: string; label?: string }) {
  const [done, setDone] = useState(false);
  return (
    <button
      type="button"
      className="small-button"
      onClick={() => {
        void navigator.clipboard?.writeText(text).then(
          () => {
            setDone(true);
            setTimeout(() => setDone(false), 1500);
          },
          () => {},
        );
      }}
    >
      {done ? "Copied" : label}
    </button>
  );
}

export function Section({
  title,
  children,
  actions,
}: {
  title: string;
  children: ReactNode;
  actions?: ReactNode;
}) {
  return (
    <section className="card">
      <header className="card-head">
        <h2>{title}</h2>
        {actions}
      </header>
      {children}
    </section>
  );
}

/** One fact of a `<dl className="facts">`: its label, and its value (`className`: the value's classes). */
export function Fact({
  label,
  className,
  children,
}: {
  label: ReactNode;
  className?: string;
  children: ReactNode;
}) {
  return (
    <div className="fact">
      <dt>{label}</dt>
      <dd className={className}>{children}</dd>
    </div>
  );
}

/** A key shown as a keyboard key. */
export function Kbd({ children }: { children: ReactNode }) {
  return <kbd>{children}</kbd>;
}
