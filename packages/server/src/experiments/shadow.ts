/**
 * Shadow runs: a candidate variant answers a copy of a sampled share of an experiment's live requests, in the
 * background, after the client already has its answer from the control. Nobody sees the candidate's answer; it
 * is stored (through this server's own proxy, which records it as a shadow call linked to the call it copies) and
 * judged against the control's while the experiment runs (`shadow-judge.ts`).
 *
 * The client's request path is never touched: `offer` only decides and starts a promise, then returns; every
 * failure of the shadow (upstream error, timeout, store error) is recorded or logged and goes no further.
 *
 * Caps, per experiment and per instance:
 * - concurrency: at most `shadow.concurrency` pairs in flight (the shadow call and then its judging); an offer
 *   over it is skipped and counted, never queued;
 * - daily cost: `shadow.dailyCostUsd` against today's (UTC) shadow calls of the experiment, as read from the
 *   store (at the first offer, then every `costRefreshMs`) plus what this instance has spent since. It can be
 *   overshot by at most the calls already in flight when it is reached, whose cost is not known until they end.
 *   A store that cannot be read keeps the shadow off until it can (a cap that is not known is not assumed met);
 * - timeout: `shadow.timeoutMs` per shadow call (and per judge call), then it is aborted; the proxy records it.
 * Outcomes are counted in `intersebd_shadow_calls_total{experiment,outcome}`.
 */

import { usageOf } from "intersebd/chat";
import { BUCKETS, bucketOf } from "intersebd/experiments";
import { costUsd } from "../calls/index.ts";
import type { CapturedCall } from "../calls/record.ts";
import type { AppContext } from "../context.ts";
import { applyVariant } from "./overrides.ts";
import { type Experiment, type ShadowSettings, shadowSchema, type Variant } from "./schemas.ts";
import { headerJson, judgePair } from "./shadow-judge.ts";

export type ShadowOutcome =
  | "ok"
  | "upstream_error"
  | "timeout"
  | "network_error"
  | "aborted"
  | "skipped_concurrency"
  | "skipped_daily_cost";

export interface ShadowOptions {
  /** The clock (ms since the epoch): the UTC day of the cost cap follows it. */
  now?: () => number;
  /** How often today's shadow cost is read again from the store (other instances spend too). Default 30 s. */
  costRefreshMs?: number;
  /** How long `stop()` lets shadow work in flight finish before aborting it. Default 2 s. */
  stopGraceMs?: number;
}

const DAY_MS = 86_400_000;
/**
 * A shadow call this instance paid for is counted locally until a store read surely includes it: the recorder
 * writes calls behind, so one that ended just before a read may not be in it yet. Counting it twice for this long
 * errs on the side of the cap.
 */
const UNFLUSHED_GRACE_MS = 5_000;

interface CostState {
  /** The UTC day (days since the epoch) the figures are for. */
  day: number;
  /** Today's shadow cost as last read from the store; undefined until a read succeeds. */
  stored: number | undefined;
  readStartedAt: number;
  reading: Promise<void> | undefined;
  /** What this instance spent on shadow calls since shortly before the last read. */
  local: Array<{ at: number; usd: number }>;
}

interface ExperimentState {
  inFlight: number;
  cost: CostState;
}

/** The share decision for one key: deterministic, so every instance shadows (and judges) the same calls. */
function drawn(experiment: Experiment, purpose: string, key: string, share: number): boolean {
  if (share >= 1) return true;
  if (share <= 0) return false;
  return bucketOf(experiment.name, `${experiment.salt}:${purpose}`, key) < share * BUCKETS;
}

/** A call is shadowed when it is a completed chat completion with a JSON request, and not a shadow itself. */
function eligible(
  call: CapturedCall,
): call is CapturedCall & { request: Record<string, unknown>; response: Record<string, unknown> } {
  return (
    call.outcome === "ok" &&
    !call.shadowOf &&
    call.request !== null &&
    call.response !== null &&
    Array.isArray(call.request.messages) &&
    call.path.endsWith("/chat/completions")
  );
}

/** The request the candidate is sent: the variant's overrides on the client's request, answered whole. */
export function shadowRequest(
  request: Record<string, unknown>,
  variant: Variant,
  metadata: Record<string, unknown>,
): Record<string, unknown> {
  const body = applyVariant(request, variant, metadata);
  delete body.stream;
  delete body.stream_options;
  return body;
}

export class ShadowRunner {
  readonly #ctx: AppContext;
  readonly #now: () => number;
  readonly #costRefreshMs: number;
  readonly #stopGraceMs: number;
  readonly #states = new Map<string, ExperimentState>();
  readonly #tasks = new Set<Promise<void>>();
  readonly #abort = new AbortController();
  #stopped = false;

  constructor(ctx: AppContext, opts: ShadowOptions = {}) {
    this.#ctx = ctx;
    this.#now = opts.now ?? Date.now;
    this.#costRefreshMs = opts.costRefreshMs ?? 30_000;
    this.#stopGraceMs = opts.stopGraceMs ?? 2_000;
  }

  /**
   * For a live call routed through an experiment in status "shadow" and answered by the control. Never throws,
   * returns at once; the shadow work runs in the background. `secrets.authorization` (the client's Authorization)
   * is held in memory for the shadow and judge calls to the call's own upstream only: never stored or logged.
   */
  offer(call: CapturedCall, experiment: Experiment, secrets: { authorization?: string } = {}): void {
    try {
      this.#offer(call, experiment, secrets);
    } catch (err) {
      this.#ctx.log.warn(
        `shadow of call ${call.id} (experiment ${experiment.name}) not started: ${String(err)}`,
      );
    }
  }

  /** Waits (at most the grace period) for shadow work in flight, then aborts what is left and waits for it. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#tasks.size === 0) return;
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, this.#stopGraceMs);
      timer.unref();
    });
    await Promise.race([Promise.allSettled([...this.#tasks]), grace]);
    clearTimeout(timer);
    this.#abort.abort(new Error("intersebd is stopping"));
    await Promise.allSettled([...this.#tasks]);
  }

  /** Shadow work in flight in this instance for the experiment (for tests and diagnostics). */
  inFlight(experiment: string): number {
    return this.#states.get(experiment)?.inFlight ?? 0;
  }

  #offer(call: CapturedCall, experiment: Experiment, secrets: { authorization?: string }): void {
    if (this.#stopped || experiment.status !== "shadow" || !eligible(call)) return;
    const settings = settingsOf(experiment);
    if (!drawn(experiment, "shadow", call.id, settings.sample)) return;
    const state = this.#stateOf(experiment.name);
    for (const variant of experiment.variants) {
      if (variant.name === experiment.control) continue;
      if (state.inFlight >= settings.concurrency) {
        this.#count(experiment, "skipped_concurrency");
        continue;
      }
      if (
        settings.dailyCostUsd !== undefined &&
        this.#capReached(experiment.name, state, settings.dailyCostUsd)
      ) {
        this.#count(experiment, "skipped_daily_cost");
        continue;
      }
      state.inFlight++;
      const task = this.#shadow(call, experiment, variant, settings, state, secrets)
        .catch((err: unknown) =>
          this.#ctx.log.warn(`shadow of call ${call.id} (experiment ${experiment.name}): ${String(err)}`),
        )
        .finally(() => {
          state.inFlight--;
          this.#tasks.delete(task);
        });
      this.#tasks.add(task);
    }
  }

  async #shadow(
    call: CapturedCall & { request: Record<string, unknown>; response: Record<string, unknown> },
    experiment: Experiment,
    variant: Variant,
    settings: ShadowSettings,
    state: ExperimentState,
    secrets: { authorization?: string },
  ): Promise<void> {
    if (settings.dailyCostUsd !== undefined) {
      await this.#costKnown(experiment.name, state);
      if (
        state.cost.stored === undefined ||
        this.#capReached(experiment.name, state, settings.dailyCostUsd)
      ) {
        this.#count(experiment, "skipped_daily_cost");
        return;
      }
    }
    const request = shadowRequest(call.request, variant, call.metadata);
    const upstream = variant.upstream ?? call.upstream;
    const authorization =
      secrets.authorization === undefined
        ? undefined
        : { upstream: call.upstream, value: secrets.authorization };
    const timeout = AbortSignal.timeout(settings.timeoutMs);
    const signal = AbortSignal.any([this.#abort.signal, timeout]);
    const t0 = performance.now();
    let res: Response;
    let text: string;
    try {
      res = await fetch(this.#proxyUrl(upstream), {
        method: "POST",
        headers: this.#headers(call, experiment, variant, upstream, authorization),
        body: JSON.stringify(request),
        signal,
      });
      text = await res.text();
    } catch {
      // The proxy records the call it was sent (a client abort when we gave up); the reason is the signal's.
      this.#count(
        experiment,
        timeout.aborted ? "timeout" : this.#abort.signal.aborted ? "aborted" : "network_error",
      );
      return;
    }
    const latencyMs = Math.round((performance.now() - t0) * 10) / 10;
    let body: Record<string, unknown> | null = null;
    try {
      const v = JSON.parse(text) as unknown;
      if (v && typeof v === "object" && !Array.isArray(v)) body = v as Record<string, unknown>;
    } catch {}
    if (res.status !== 200 || !body) {
      this.#count(experiment, "upstream_error");
      return;
    }
    this.#count(experiment, "ok");
    const usage = usageOf(body);
    const usd = costUsd((body.model as string | undefined) ?? (request.model as string | undefined) ?? null, {
      promptTokens: usage.promptTokens,
      completionTokens: usage.completionTokens,
      cachedTokens: usage.cachedTokens,
    });
    if (usd) state.cost.local.push({ at: this.#now(), usd });

    const shadowCallId = res.headers.get("x-intersebd-call-id");
    const judging = settings.judge !== undefined || (settings.checks?.length ?? 0) > 0;
    if (!judging || !shadowCallId || this.#abort.signal.aborted) return;
    await judgePair(
      this.#ctx,
      {
        experiment,
        variant,
        control: {
          callId: call.id,
          request: call.request,
          response: call.response,
          latencyMs: call.endedAt - call.startedAt,
        },
        shadow: { callId: shadowCallId, request, response: body, latencyMs },
      },
      {
        judge:
          settings.judge !== undefined &&
          drawn(experiment, "judge", `${call.id}:${variant.name}`, settings.judge.sample),
        signal: AbortSignal.any([this.#abort.signal, AbortSignal.timeout(settings.timeoutMs)]),
        ...(authorization ? { authorization } : {}),
      },
    );
  }

  #proxyUrl(upstream: string): string {
    const prefix = upstream === "default" ? "" : `/${encodeURIComponent(upstream)}`;
    return `${this.#ctx.baseUrl()}${prefix}/v1/chat/completions`;
  }

  #headers(
    call: CapturedCall,
    experiment: Experiment,
    variant: Variant,
    upstream: string,
    authorization: { upstream: string; value: string } | undefined,
  ): Record<string, string> {
    const headers: Record<string, string> = {
      "content-type": "application/json",
      "x-intersebd-experiment": experiment.name,
      "x-intersebd-variant": variant.name,
      "x-intersebd-shadow-of": call.id,
    };
    if (call.userId) headers["x-intersebd-user-id"] = call.userId;
    if (call.sessionId) headers["x-intersebd-session-id"] = call.sessionId;
    // The original's metadata, but the prompt version is the candidate's: metrics group by it.
    const { promptVersion: _control, ...metadata } = call.metadata;
    if (variant.promptVersion) metadata.promptVersion = variant.promptVersion;
    if (Object.keys(metadata).length) headers["x-intersebd-metadata"] = headerJson(metadata);
    if (this.#ctx.config.apiKey) headers["x-intersebd-key"] = this.#ctx.config.apiKey;
    // The client's credential is for the upstream it called: sent elsewhere it would leak, and would take the
    // place of that upstream's configured key.
    if (authorization && authorization.upstream === upstream) headers.authorization = authorization.value;
    return headers;
  }

  #count(experiment: Experiment, outcome: ShadowOutcome): void {
    this.#ctx.metrics.shadowCalls.inc({ experiment: experiment.name, outcome });
  }

  #stateOf(name: string): ExperimentState {
    let s = this.#states.get(name);
    if (!s) {
      s = {
        inFlight: 0,
        cost: { day: this.#day(), stored: undefined, readStartedAt: 0, reading: undefined, local: [] },
      };
      this.#states.set(name, s);
    }
    return s;
  }

  #day(): number {
    return Math.floor(this.#now() / DAY_MS);
  }

  /** Whether today's known cost has reached the cap; starts a read of the store when the figure is stale. */
  #capReached(name: string, state: ExperimentState, capUsd: number): boolean {
    const cost = state.cost;
    const day = this.#day();
    if (cost.day !== day) {
      cost.day = day;
      cost.stored = undefined;
      cost.readStartedAt = 0;
      cost.local = [];
    }
    if (cost.stored === undefined || this.#now() - cost.readStartedAt >= this.#costRefreshMs)
      void this.#costKnown(name, state);
    const spent = (cost.stored ?? 0) + cost.local.reduce((sum, e) => sum + e.usd, 0);
    return spent >= capUsd;
  }

  /** Reads today's shadow cost of the experiment from the store, once at a time; never throws. */
  #costKnown(name: string, state: ExperimentState): Promise<void> {
    const cost = state.cost;
    if (cost.reading) return cost.reading;
    if (cost.stored !== undefined && this.#now() - cost.readStartedAt < this.#costRefreshMs)
      return Promise.resolve();
    const startedAt = this.#now();
    const day = this.#day();
    cost.reading = (async () => {
      try {
        const row = await this.#ctx.store.db
          .selectFrom("calls")
          .select((eb) => eb.fn.sum<number | string | null>("costUsd").as("usd"))
          .where("experiment", "=", name)
          .where("shadowOf", "is not", null)
          .where("startedAt", ">=", day * DAY_MS)
          .where("startedAt", "<", (day + 1) * DAY_MS)
          .executeTakeFirst();
        if (cost.day !== day) return;
        cost.stored = Number(row?.usd ?? 0);
        cost.readStartedAt = startedAt;
        cost.local = cost.local.filter((e) => e.at >= startedAt - UNFLUSHED_GRACE_MS);
      } catch (err) {
        this.#ctx.log.warn(`experiment ${name}: today's shadow cost could not be read: ${String(err)}`);
      } finally {
        cost.reading = undefined;
      }
    })();
    return cost.reading;
  }
}

/** The experiment's shadow settings with their defaults (an experiment in shadow may declare none). */
function settingsOf(experiment: Experiment): ShadowSettings {
  return experiment.shadow ?? shadowSchema.parse({});
}
