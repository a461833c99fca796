/**
 * A domain's HTTP contract as data. Each route declares its method, its path, what it reads (a body and a
 * query, each a zod schema) and what it answers (a zod schema), and a thin handler that calls a use-case.
 * `mountRoutes` validates what a route declares (a 400 naming the field) before the handler runs, and
 * `openApiDocument` (openapi.ts) describes the same tables, so every mounted route is documented.
 *
 * @example
 * ```ts
 * export const routes = (ctx: AppContext): RouteTable => [
 *   route({
 *     method: "get",
 *     path: "/datasets/:name",
 *     summary: "One dataset",
 *     response: datasetDetailSchema,
 *     handler: ({ params }) => datasetDetail(ctx.store, params.name),
 *   }),
 * ];
 * ```
 */
import type { Context, Hono } from "hono";
import type { z } from "zod";
import { HttpError } from "./error.ts";
import { jsonBody, oneOrBatch, parseOrThrow, queryOf } from "./validate.ts";

export type Method = "get" | "post" | "put" | "delete";

/**
 * What an API key may do (keys/): `ingest` what a service holds (proxy and SDK writes), `read` the logged calls
 * and everything derived from them, `annotate` (people's judgements), `admin` everything, key management included.
 */
export type Scope = "ingest" | "read" | "annotate" | "admin";

/**
 * What a route requires of the caller's key: one scope, or a list of which any one suffices (an `admin` key may
 * call every route); `link` for a route whose credential is a signed link in its path, which needs no key.
 */
export type RouteScope = Scope | readonly Scope[] | "link";

/** Where the API's key middleware keeps who the request is, in Hono's context (set by api/index.ts). */
export const PRINCIPAL = "intersebd.principal";

/** Who made the request, as the key middleware found them; undefined when no key is required. */
export function principalOf(c: Context): { id: string; name: string } | undefined {
  return c.get(PRINCIPAL as never) as { id: string; name: string } | undefined;
}

/**
 * How a body is read: `one` JSON value validated by `body`; `batch`, one value or an array of them (each
 * validated, `[2].field` named on failure); `raw`, read as JSON and handed over unvalidated, for a handler
 * that must check something before the schema does (`body` then only documents it).
 */
export type BodyMode = "one" | "batch" | "raw";

/** The path's `:name` segments as an object: `"/evals/:id/items"` gives `{ id: string }`. */
export type PathParams<P extends string> = P extends `${string}:${infer K}/${infer Rest}`
  ? { [k in K]: string } & PathParams<`/${Rest}`>
  : P extends `${string}:${infer K}`
    ? { [k in K]: string }
    : Record<never, string>;

type BodyOf<S, M extends BodyMode> = M extends "raw"
  ? unknown
  : S extends z.ZodType
    ? M extends "batch"
      ? { items: z.output<S>[]; batch: boolean }
      : z.output<S>
    : undefined;

/** A JSON answer with a status other than the route's `status` (a 202 when the store is down). */
export class Reply<T = unknown> {
  readonly status: number;
  readonly body: T;
  constructor(status: number, body: T) {
    this.status = status;
    this.body = body;
  }
}

/** Answers `body` with `status` instead of the route's default. */
export const reply = <T>(status: number, body: T): Reply<T> => new Reply(status, body);

/** What a handler answers: a value of the response schema (sent as JSON), a `Reply`, or a raw `Response`. */
type Answer<R> = R extends z.ZodType ? z.input<R> | Reply<z.input<R>> | Response : Response;

export interface Route<
  P extends string = string,
  B extends z.ZodType | undefined = undefined,
  M extends BodyMode = "one",
  Q extends z.ZodObject | undefined = undefined,
  R extends z.ZodType | null = z.ZodType | null,
> {
  method: Method;
  /** Hono's syntax (`/calls/:id`), relative to where the table is mounted (`/api`). */
  path: P;
  /** The scope a key needs to call it (enforced by `MountOptions.authorize`; keys.test.ts tests every route). */
  scope: RouteScope;
  summary: string;
  description?: string;
  body?: B;
  bodyMode?: M;
  /** The query's parameters; one the schema does not know is a 400 (`queryOf`). */
  query?: Q;
  /** The success answer's JSON; `null` for an answer that is not JSON (a stream, a 204), told in `describe`. */
  response: R;
  /** The success status (default 200). */
  status?: number;
  /** What the success answer is, in words (the document's `description`). */
  describe?: string;
  /** Error statuses worth documenting beyond the 400 a declared body or query brings, with what they mean. */
  errors?: Partial<Record<number, string>>;
  handler(input: {
    c: Context;
    params: PathParams<P>;
    body: BodyOf<B, M>;
    query: Q extends z.ZodObject ? z.output<Q> : undefined;
  }): Answer<R> | Promise<Answer<R>>;
}

/** A route with its types erased, as tables hold them. */
export interface AnyRoute {
  method: Method;
  path: string;
  scope: RouteScope;
  summary: string;
  description?: string;
  body?: z.ZodType;
  bodyMode?: BodyMode;
  query?: z.ZodObject;
  response: z.ZodType | null;
  status?: number;
  describe?: string;
  errors?: Partial<Record<number, string>>;
  handler(input: { c: Context; params: Record<string, string>; body: unknown; query: unknown }): unknown;
}

/** A domain's routes, in the order they are matched. */
export type RouteTable = AnyRoute[];

/** Declares one route, checking its handler against what it declares. */
export function route<
  const P extends string,
  B extends z.ZodType | undefined = undefined,
  M extends BodyMode = "one",
  Q extends z.ZodObject | undefined = undefined,
  R extends z.ZodType | null = null,
>(r: Route<P, B, M, Q, R>): AnyRoute {
  return r as unknown as AnyRoute;
}

export interface MountOptions {
  /**
   * Parse every JSON answer with its route's response schema and answer 500 naming the mismatch
   * (`INTERSEBD_CHECK_RESPONSES`, which the test harness sets): every end-to-end test then checks the
   * contract of every response it reads.
   */
  checkResponses?: boolean;
  /** Throws (a 401 or 403) when the request may not call the route; runs before anything is read or validated. */
  authorize?: (c: Context, route: AnyRoute) => void;
}

/** Mounts a table on `app` (the `/api` group): validation first, then the handler, then the answer. */
export function mountRoutes(app: Hono, table: RouteTable, opts: MountOptions = {}): void {
  for (const r of table) {
    app.on(r.method.toUpperCase(), r.path, async (c) => {
      opts.authorize?.(c, r);
      const query = r.query ? queryOf(c, r.query) : undefined;
      let body: unknown;
      const mode = r.bodyMode ?? "one";
      if (mode === "raw") body = await jsonBody(c);
      else if (r.body && mode === "batch") body = await oneOrBatch(c, r.body);
      else if (r.body) body = parseOrThrow(r.body, await jsonBody(c));
      const out = await r.handler({ c, params: c.req.param() as Record<string, string>, body, query });
      if (out instanceof Response) return out;
      const [status, value] = out instanceof Reply ? [out.status, out.body] : [r.status ?? 200, out];
      if (opts.checkResponses) checkResponse(r, value);
      return c.json(value as object, status as 200);
    });
  }
}

/** Throws a 500 naming the first field of `value` (as the client will read it) that breaks the route's schema. */
function checkResponse(r: AnyRoute, value: unknown): void {
  if (!r.response) {
    throw new HttpError(500, `${r.method.toUpperCase()} ${r.path} declares no JSON answer but gave one`, {
      code: "response_mismatch",
    });
  }
  // What the client reads: dates as strings, undefined fields gone.
  const wire: unknown = value === undefined ? undefined : JSON.parse(JSON.stringify(value));
  try {
    parseOrThrow(r.response, wire, "response");
  } catch (err) {
    const detail = err instanceof HttpError ? err.message : String(err);
    throw new HttpError(500, `${r.method.toUpperCase()} ${r.path} answered outside its schema: ${detail}`, {
      code: "response_mismatch",
    });
  }
}

/** A batch's answer `{ data: [...] }`, or the one item when the request sent one (not a batch). */
export function oneOrData<T>(items: T[], batch: boolean): T | { data: T[] } {
  const [first] = items;
  return batch || first === undefined ? { data: items } : first;
}
