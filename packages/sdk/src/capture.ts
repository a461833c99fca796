/**
 * The in-process capture shared by `wrapOpenAI` and `wrapAnthropic`: a client's `create` method is replaced by
 * one that calls the original and watches what it returns. The caller gets exactly what the unwrapped method
 * returns (the same promise object, so `.withResponse()` keeps working; the same Stream object, whose iterator is
 * tapped, not replaced), and errors reach it unchanged. Each finished call becomes one record for
 * `POST /api/calls`.
 *
 * What differs between protocols (the path, how a stream's events add up to the final object, what an ok
 * answer that failed looks like) is a {@link Protocol}; everything else is here once.
 */
import { randomId } from "./env.ts";
import { IntersebdError } from "./errors.ts";
import type { Assignment } from "./variant.ts";

/**
 * What to attach to each captured call. All optional.
 *
 * @example
 * ```ts
 * const context: CallContext = { sessionId: "s-1", userId: "u-42", tags: ["titles"], metadata: { plan: "pro" } };
 * ```
 */
export interface CallContext {
  sessionId?: string;
  userId?: string;
  /** More tags for the call (each works like its completion id in links and annotations). */
  tags?: string[];
  metadata?: Record<string, unknown>;
  /**
   * The call's experiment assignment (`intersebd.variant(...)`): the call is recorded under its experiment,
   * variant and unit. Its user or session id fills `userId` or `sessionId` when those are absent.
   */
  assignment?: Pick<Assignment, "experiment" | "variant" | "assignmentUnit">;
}

/**
 * Options of `wrapOpenAI` and `wrapAnthropic`: a {@link CallContext} for every call, or a function computing
 * one from the request params at each call (for per-request session and user ids).
 *
 * @example
 * ```ts
 * const options: WrapOptions = (request) => ({ userId: requestContext().userId, tags: [String(request.model)] });
 * ```
 */
export type WrapOptions = CallContext | ((request: Record<string, unknown>) => CallContext | undefined);

/** Where wrapped calls go: the `Intersebd` instance that wrapped the client. */
export interface CallSink {
  readonly enabled: boolean;
  record(call: Record<string, unknown>): void;
  report(error: IntersebdError): void;
}

/** Adds a stream's events up to the object a non-streamed call would have answered. */
export interface Accumulator {
  push(event: unknown): void;
  /** The final object so far (a partial one when the stream broke off), or null when nothing arrived. */
  result(): unknown;
}

/** One protocol's differences: see the wrappers in openai.ts and anthropic.ts. */
export interface Protocol {
  /** The wrapper's name, in the errors it reports. */
  wrapper: string;
  /** `protocol` of the record; absent for chat, whose request and response are stored as they are. */
  protocol?: "responses" | "messages";
  /** The API path, as the proxy would record it. */
  path: string;
  accumulator(): Accumulator;
  /** The request body as sent, from the params `create` was given (a client may lift some out as headers). */
  request?(params: Record<string, unknown>): Record<string, unknown>;
  /** The final object as the server sent it, from what the client returned (a client may add conveniences). */
  response?(value: unknown): unknown;
  /** An answer that arrived whole but says the call failed (a Responses `status: "failed"`), as an error. */
  failure?(response: unknown): string | undefined;
}

type CreateFn = (this: unknown, ...args: unknown[]) => unknown;
type Patchable = { create: CreateFn; [ORIGINAL]?: CreateFn };
type Outcome = "ok" | "upstream_error" | "network_error" | "client_aborted" | "timeout";

/** Keeps the unwrapped `create`, so wrapping twice replaces the first wrapper instead of stacking. */
const ORIGINAL: unique symbol = Symbol.for("intersebd.originalCreate");
const MAX_ERROR_CHARS = 10_000;

interface Pending {
  startedAt: number;
  request: Record<string, unknown>;
  stream: boolean;
  context: CallContext | undefined;
  sink: CallSink;
  protocol: Protocol;
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/** A deep copy of a JSON value: the caller may push to its `messages` before the queue is flushed. */
function snapshot(params: unknown): Record<string, unknown> {
  try {
    const copy = JSON.parse(JSON.stringify(params ?? {})) as unknown;
    return isObject(copy) ? copy : { body: copy };
  } catch {
    return {};
  }
}

function reportError(sink: CallSink, message: string, err: unknown, field?: string): void {
  sink.report(
    new IntersebdError(`${message}: ${(err as Error)?.message ?? err}`, {
      code: "invalid_input",
      kind: "call",
      cause: err,
      ...(field ? { field } : {}),
    }),
  );
}

function contextFor(
  protocol: Protocol,
  options: WrapOptions | undefined,
  request: Record<string, unknown>,
  sink: CallSink,
) {
  try {
    return typeof options === "function" ? options(request) : options;
  } catch (err) {
    reportError(sink, `${protocol.wrapper} options function threw`, err, "options");
    return undefined;
  }
}

const text = (v: unknown, max: number): string | undefined =>
  typeof v === "string" && v.length > 0 ? v.slice(0, max) : undefined;

/**
 * How a failed `create()` (or a stream that threw) is classified, from the error classes that the `openai` and
 * `@anthropic-ai/sdk` clients share by name.
 */
function classify(err: unknown): { outcome: Outcome; status: number | null; error: string } {
  const e = (typeof err === "object" && err !== null ? err : {}) as {
    name?: string;
    status?: unknown;
    message?: unknown;
  };
  const kind = (err as { constructor?: { name?: string } })?.constructor?.name ?? "";
  const error = String(e.message ?? err).slice(0, MAX_ERROR_CHARS);
  if (kind === "APIUserAbortError" || e.name === "AbortError")
    return { outcome: "client_aborted", status: null, error };
  if (kind === "APIConnectionTimeoutError" || e.name === "TimeoutError")
    return { outcome: "timeout", status: null, error };
  if (typeof e.status === "number") return { outcome: "upstream_error", status: e.status, error };
  // An error event inside a 200 stream: the upstream answered, then failed.
  if (kind === "APIError") return { outcome: "upstream_error", status: 200, error };
  return { outcome: "network_error", status: null, error };
}

function record(
  p: Pending,
  fields: {
    outcome: Outcome;
    status: number | null;
    error?: string;
    response?: unknown;
    ttftMs?: number;
  },
): void {
  const c = p.context;
  const tags = Array.isArray(c?.tags)
    ? c.tags
        .filter((t): t is string => typeof t === "string" && t.length > 0 && t.length <= 500)
        .slice(0, 100)
    : undefined;
  const metadata = isObject(c?.metadata) ? c.metadata : undefined;
  const a = c?.assignment;
  const experiment = text(a?.experiment, 64);
  const [unitKind, ...unitRest] = (text(a?.assignmentUnit, 600) ?? "").split(":");
  const unitId = unitRest.join(":");
  const response = isObject(fields.response) ? fields.response : null;
  let { outcome, error } = fields;
  const failed = outcome === "ok" && response ? p.protocol.failure?.(response) : undefined;
  if (failed !== undefined) {
    outcome = "upstream_error";
    error = failed.slice(0, MAX_ERROR_CHARS);
  }
  p.sink.record({
    id: `call_${randomId().replaceAll("-", "")}`,
    startedAt: p.startedAt,
    endedAt: Date.now(),
    ttftMs: fields.ttftMs,
    upstream: "sdk",
    path: p.protocol.path,
    stream: p.stream,
    status: fields.status,
    outcome,
    error: error ?? null,
    // Another protocol's bodies go as they were sent and received; the server converts them to the chat shape
    // it stores beside them, so the SDK and the proxy agree on one conversion.
    ...(p.protocol.protocol
      ? { protocol: p.protocol.protocol, originalRequest: p.request, originalResponse: response }
      : { request: p.request, response }),
    sessionId: text(c?.sessionId, 500) ?? (unitKind === "sessionId" ? text(unitId, 500) : undefined),
    userId: text(c?.userId, 500) ?? (unitKind === "userId" ? text(unitId, 500) : undefined),
    tags,
    metadata,
    source: "sdk",
    // Only a known variant is recorded: `variant: null` means the SDK did not know the definition yet.
    ...(experiment && text(a?.variant, 64)
      ? { experiment, variant: a?.variant, assignmentUnit: text(a?.assignmentUnit, 600) ?? null }
      : {}),
  });
}

/**
 * Taps a Stream's iterator so every event also goes to the accumulator. The `openai` and `@anthropic-ai/sdk`
 * `Stream` build their iterator through the `iterator` property (used by `for await`, `tee()` and
 * `toReadableStream()` alike, and by their `responses.stream()` / `messages.stream()` helpers through
 * `create`), so that is the one place to tap; other async iterables get their `Symbol.asyncIterator` tapped.
 */
function tapStream(stream: object, p: Pending): void {
  const s = stream as {
    iterator?: unknown;
    controller?: { signal?: { aborted?: boolean } };
    [Symbol.asyncIterator]?: unknown;
  };
  const accumulator = p.protocol.accumulator();
  let firstEventAt: number | undefined;
  let finished = false;
  const finish = (outcome: Outcome, status: number | null, error?: string) => {
    if (finished) return;
    finished = true;
    const ttftMs = firstEventAt === undefined ? undefined : Math.max(0, firstEventAt - p.startedAt);
    let response: unknown = null;
    try {
      response = accumulator.result() ?? null;
    } catch (err) {
      reportError(p.sink, `${p.protocol.wrapper} could not reassemble a stream`, err);
    }
    record(p, { outcome, status, error, ttftMs, response });
  };

  const tap = (it: AsyncIterator<unknown>): AsyncIterator<unknown> => {
    const tapped: AsyncIterator<unknown> & AsyncIterable<unknown> = {
      async next(...args: [] | [unknown]) {
        let r: IteratorResult<unknown>;
        try {
          r = await it.next(...args);
        } catch (err) {
          const c = classify(err);
          finish(c.outcome, c.status ?? 200, c.error);
          throw err;
        }
        try {
          if (r.done) {
            // The clients' Stream ends quietly when its controller is aborted; that is the caller stopping.
            if (s.controller?.signal?.aborted) finish("client_aborted", 200, "stream aborted by the caller");
            else finish("ok", 200);
          } else {
            firstEventAt ??= Date.now();
            accumulator.push(r.value);
          }
        } catch (err) {
          reportError(p.sink, `${p.protocol.wrapper} could not read an event`, err);
        }
        return r;
      },
      async return(value?: unknown) {
        // `break` out of the loop, or `toReadableStream()` cancelled: the caller stopped early.
        finish("client_aborted", 200, "stream closed by the caller before its end");
        return it.return ? it.return(value) : { done: true, value };
      },
      [Symbol.asyncIterator]() {
        return tapped;
      },
    };
    if (it.throw) {
      const inner = it.throw.bind(it);
      tapped.throw = (e?: unknown) => {
        const c = classify(e);
        finish(c.outcome, c.status ?? 200, c.error);
        return inner(e);
      };
    }
    return tapped;
  };

  if (typeof s.iterator === "function") {
    const original = s.iterator as (this: unknown) => AsyncIterator<unknown>;
    s.iterator = function iterator(this: unknown) {
      return tap(original.call(this));
    };
  } else {
    const original = s[Symbol.asyncIterator] as (this: unknown) => AsyncIterator<unknown>;
    s[Symbol.asyncIterator] = function asyncIterator(this: unknown) {
      return tap(original.call(this));
    };
  }
}

function observe(result: unknown, p: Pending): void {
  const settled = (value: unknown) => {
    try {
      const v = value as { [Symbol.asyncIterator]?: unknown } | null;
      if (p.stream && typeof v === "object" && v !== null && typeof v[Symbol.asyncIterator] === "function") {
        tapStream(v, p);
      } else {
        const response = p.protocol.response ? p.protocol.response(value) : value;
        record(p, { outcome: "ok", status: 200, response });
      }
    } catch (err) {
      reportError(p.sink, `${p.protocol.wrapper} could not capture a call`, err);
    }
  };
  const failed = (err: unknown) => {
    try {
      const c = classify(err);
      record(p, { outcome: c.outcome, status: c.status, error: c.error });
    } catch {}
  };
  const thenable = result as { then?: unknown } | null;
  if (typeof thenable === "object" && thenable !== null && typeof thenable.then === "function") {
    // Registered before the caller's own `await`, so a stream is tapped before the caller sees it. Both
    // handlers are given, so this derived promise never rejects and never reports an unhandled rejection.
    (thenable.then as (ok: (v: unknown) => void, ko: (e: unknown) => void) => unknown).call(
      result,
      settled,
      failed,
    );
  } else settled(result);
}

/**
 * A copy of a stream event, taken before the caller sees it: the clients' own stream helpers
 * (`messages.stream()`, `responses.stream()`) build their snapshot from the event objects and then append deltas
 * to them in place, so an event kept by reference would later hold text that the deltas add again.
 */
export function copyOf<T>(event: T): T {
  try {
    return structuredClone(event);
  } catch {
    return event;
  }
}

/** `acc`, fed a {@link copyOf} each event: for the protocols whose clients' stream helpers mutate events. */
export function copying(acc: Accumulator): Accumulator {
  return { push: (event) => acc.push(copyOf(event)), result: () => acc.result() };
}

/**
 * What a wrapper does with its client: patches each `[resource, protocol]` whose resource has `create`, and
 * reports the client as unwrappable (naming the `missing` methods) when none has.
 */
export function patchCreates(
  targets: ReadonlyArray<readonly [unknown, Protocol]>,
  missing: string,
  options: WrapOptions | undefined,
  sink: CallSink,
): void {
  const found = targets.filter(([target]) => hasCreate(target));
  for (const [target, protocol] of found) patchCreate(target as object, protocol, options, sink);
  if (found.length === 0) unwrappable(sink, targets[0]?.[1].wrapper ?? "wrap", missing);
}

/** Whether `target` has a `create` method that {@link patchCreate} can wrap. */
function hasCreate(target: unknown): boolean {
  return isObject(target) && typeof (target as { create?: unknown }).create === "function";
}

/**
 * Replaces `target.create` with a capturing one (once: wrapping again replaces the earlier wrapper). The caller
 * checks {@link hasCreate} first.
 */
function patchCreate(
  target: object,
  protocol: Protocol,
  options: WrapOptions | undefined,
  sink: CallSink,
): void {
  const resource = target as Patchable;
  const original = resource[ORIGINAL] ?? resource.create;
  const create: CreateFn = function create(this: unknown, ...args: unknown[]) {
    const self = this ?? resource;
    if (!sink.enabled) return original.apply(self, args);
    const startedAt = Date.now();
    let request = snapshot(args[0]);
    try {
      if (protocol.request) request = protocol.request(request);
    } catch {}
    const p: Pending = {
      startedAt,
      request,
      stream: request.stream === true,
      context: contextFor(protocol, options, request, sink),
      sink,
      protocol,
    };
    let result: unknown;
    try {
      result = original.apply(self, args);
    } catch (err) {
      try {
        const c = classify(err);
        record(p, { outcome: c.outcome, status: c.status, error: c.error });
      } catch {}
      throw err;
    }
    observe(result, p);
    return result;
  };
  Object.defineProperty(resource, ORIGINAL, {
    value: original,
    configurable: true,
    enumerable: false,
    writable: true,
  });
  resource.create = create;
}

/** The report of a client that has none of the methods a wrapper captures. */
function unwrappable(sink: CallSink, wrapper: string, methods: string): void {
  sink.report(
    new IntersebdError(`${wrapper}: the client has no ${methods}; it was left unwrapped`, {
      code: "invalid_input",
      field: "client",
      kind: "call",
    }),
  );
}
