/**
 * `wrapOpenAI`: in-process capture of `chat.completions.create` for services that cannot point their client at
 * the proxy. The caller gets exactly what the unwrapped client returns (the same promise object, so
 * `.withResponse()` keeps working; the same Stream object, whose iterator is tapped, not replaced), and errors
 * reach it unchanged. Each finished call becomes one record for `POST /api/calls`.
 *
 * No import of `openai` here: the client is typed structurally, so the SDK keeps no dependency.
 */
import { ChatCompletionAssembler } from "./chat/index.ts";
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
 * Options of `wrapOpenAI`: a {@link CallContext} for every call, or a function computing one from the
 * request params at each call (for per-request session and user ids).
 *
 * @example
 * ```ts
 * const options: WrapOpenAIOptions = (request) => ({ userId: requestContext().userId, tags: [String(request.model)] });
 * ```
 */
export type WrapOpenAIOptions = CallContext | ((request: Record<string, unknown>) => CallContext | undefined);

/**
 * The shape `wrapOpenAI` needs: the official `openai` client (v4 to v6) or anything with
 * `chat.completions.create`.
 *
 * @example
 * ```ts
 * const client: ChatCompletionsClient = new OpenAI();
 * ```
 */
export interface ChatCompletionsClient {
  chat: { completions: { create: (...args: never[]) => unknown } };
}

/** Where wrapped calls go: the `Intersebd` instance that wrapped the client. */
export interface CallSink {
  readonly enabled: boolean;
  record(call: Record<string, unknown>): void;
  report(error: IntersebdError): void;
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
}

/** The request as it was when sent: the caller may push to `messages` before the queue is flushed. */
function snapshot(params: unknown): Record<string, unknown> {
  try {
    const copy = JSON.parse(JSON.stringify(params ?? {})) as unknown;
    return typeof copy === "object" && copy !== null && !Array.isArray(copy)
      ? (copy as Record<string, unknown>)
      : { body: copy };
  } catch {
    return {};
  }
}

function contextFor(
  options: WrapOpenAIOptions | undefined,
  request: Record<string, unknown>,
  sink: CallSink,
) {
  try {
    return typeof options === "function" ? options(request) : options;
  } catch (err) {
    sink.report(
      new IntersebdError(`wrapOpenAI options function threw: ${(err as Error)?.message ?? err}`, {
        code: "invalid_input",
        field: "options",
        kind: "call",
        cause: err,
      }),
    );
    return undefined;
  }
}

const text = (v: unknown, max: number): string | undefined =>
  typeof v === "string" && v.length > 0 ? v.slice(0, max) : undefined;

/** How a failed `create()` (or a stream that threw) is classified, from the openai client's error classes. */
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
  const metadata =
    typeof c?.metadata === "object" && c.metadata !== null && !Array.isArray(c.metadata)
      ? c.metadata
      : undefined;
  const a = c?.assignment;
  const experiment = text(a?.experiment, 64);
  const [unitKind, ...unitRest] = (text(a?.assignmentUnit, 600) ?? "").split(":");
  const unitId = unitRest.join(":");
  p.sink.record({
    id: `call_${randomId().replaceAll("-", "")}`,
    startedAt: p.startedAt,
    endedAt: Date.now(),
    ttftMs: fields.ttftMs,
    upstream: "sdk",
    path: "/chat/completions",
    stream: p.stream,
    status: fields.status,
    outcome: fields.outcome,
    error: fields.error ?? null,
    request: p.request,
    response: typeof fields.response === "object" && fields.response !== null ? fields.response : null,
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
 * Taps a Stream's iterator so every chunk also goes to the reassembler. The openai `Stream` builds its
 * iterator through the `iterator` property (used by `for await`, `tee()` and `toReadableStream()` alike), so
 * that is the one place to tap; other async iterables get their `Symbol.asyncIterator` tapped instead.
 */
function tapStream(stream: object, p: Pending): void {
  const s = stream as {
    iterator?: unknown;
    controller?: { signal?: { aborted?: boolean } };
    [Symbol.asyncIterator]?: unknown;
  };
  const assembler = new ChatCompletionAssembler();
  let firstChunkAt: number | undefined;
  let finished = false;
  const finish = (outcome: Outcome, status: number | null, error?: string) => {
    if (finished) return;
    finished = true;
    const ttftMs = firstChunkAt === undefined ? undefined : Math.max(0, firstChunkAt - p.startedAt);
    record(p, { outcome, status, error, ttftMs, response: assembler.result() ?? null });
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
            // The openai Stream ends quietly when its controller is aborted; that is the caller stopping.
            if (s.controller?.signal?.aborted) finish("client_aborted", 200, "stream aborted by the caller");
            else finish("ok", 200);
          } else {
            firstChunkAt ??= Date.now();
            assembler.push(r.value);
          }
        } catch (err) {
          p.sink.report(
            new IntersebdError(`wrapOpenAI could not read a chunk: ${(err as Error)?.message ?? err}`, {
              code: "invalid_input",
              kind: "call",
              cause: err,
            }),
          );
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
      } else record(p, { outcome: "ok", status: 200, response: value });
    } catch (err) {
      p.sink.report(
        new IntersebdError(`wrapOpenAI could not capture a call: ${(err as Error)?.message ?? err}`, {
          code: "invalid_input",
          kind: "call",
          cause: err,
        }),
      );
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

/** See `Intersebd.wrapOpenAI`; the default-instance form is `wrapOpenAI` in `index.ts`. */
export function wrapChatCompletions<C extends ChatCompletionsClient>(
  client: C,
  options: WrapOpenAIOptions | undefined,
  sink: CallSink,
): C {
  const completions = (client as { chat?: { completions?: unknown } } | undefined)?.chat?.completions as
    | Patchable
    | undefined;
  if (typeof completions !== "object" || completions === null || typeof completions.create !== "function") {
    sink.report(
      new IntersebdError("wrapOpenAI: the client has no chat.completions.create; it was left unwrapped", {
        code: "invalid_input",
        field: "client",
        kind: "call",
      }),
    );
    return client;
  }
  const original = completions[ORIGINAL] ?? completions.create;
  const create: CreateFn = function create(this: unknown, ...args: unknown[]) {
    const self = this ?? completions;
    if (!sink.enabled) return original.apply(self, args);
    const startedAt = Date.now();
    const request = snapshot(args[0]);
    const p: Pending = {
      startedAt,
      request,
      stream: request.stream === true,
      context: contextFor(options, request, sink),
      sink,
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
  Object.defineProperty(completions, ORIGINAL, {
    value: original,
    configurable: true,
    enumerable: false,
    writable: true,
  });
  completions.create = create;
  return client;
}
