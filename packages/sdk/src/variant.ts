/**
 * `intersebd.variant(name, { userId })`: the variant of an experiment a unit gets, computed here with the kernel
 * the server's proxy uses (`intersebd/experiments`), so a service that picks its prompt itself agrees with the
 * proxy without asking it. The definition (`GET /api/experiments/{name}`) is fetched in the background and kept;
 * `variant()` itself never waits, never touches the network and never throws.
 */
import { refTimer, unrefTimer } from "./env.ts";
import { IntersebdError } from "./errors.ts";
import { assignVariant, type BucketRange } from "./experiments/index.ts";

type Timer = ReturnType<typeof setTimeout>;

/**
 * Who the assignment is for. The experiment's unit decides which id counts: `userId` for a per-user experiment,
 * `sessionId` for a per-session one; `unit` is an id of your own, used when the one the experiment needs is
 * absent (and the only id a per-request experiment can use).
 *
 * @example
 * ```ts
 * const who: VariantUnit = { userId: user.id, sessionId: session.id };
 * ```
 */
export interface VariantUnit {
  userId?: string;
  sessionId?: string;
  unit?: string;
}

/**
 * What the chosen variant changes: apply the ones you use when building the request (or let the proxy apply them
 * by sending `headers` without doing anything else).
 *
 * @example
 * ```ts
 * const { overrides } = intersebd.variant("titles", { userId });
 * const model = overrides.model ?? "gpt-4o-mini";
 * ```
 */
export interface VariantOverrides {
  model?: string;
  systemPrompt?: string;
  params?: Record<string, unknown>;
  promptVersion?: string;
  messages?: Array<{ role: string; content: string }>;
}

/**
 * The answer of `variant()`.
 *
 * @example
 * ```ts
 * const a: Assignment = intersebd.variant("titles", { userId: "u-42" });
 * if (!a.control) prompt = a.overrides.systemPrompt ?? prompt;
 * await openai.chat.completions.create({ model, messages }, { headers: a.headers });
 * ```
 */
export interface Assignment {
  experiment: string;
  /** The variant's name; `null` while the definition is not known yet (or the SDK is disabled): use the control. */
  variant: string | null;
  /** True for the control, and whenever `variant` is null. */
  control: boolean;
  overrides: VariantOverrides;
  /**
   * Headers for the call, so the proxy records it under this variant: `x-intersebd-experiment`,
   * `x-intersebd-variant` (only when known) and the user or session id header. Empty when the SDK is disabled.
   */
  headers: Record<string, string>;
  /** The unit as the server records it (`userId:<id>`, `sessionId:<id>`, `request:<id>`), or null when none. */
  assignmentUnit: string | null;
}

/** The part of the server's experiment definition the SDK assigns from. */
export interface ExperimentDefinition {
  name: string;
  version: number;
  status: "draft" | "shadow" | "running" | "stopped" | "promoted";
  unit: "userId" | "sessionId" | "request";
  salt: string;
  control: string;
  variants: Array<VariantOverrides & { name: string; weight: number }>;
  allocation: BucketRange[];
  promoted?: { variant: string };
}

/** What the client lends the experiments cache: where the server is and how to report. */
export interface ExperimentsHost {
  readonly enabled: boolean;
  url(path: string): string;
  headers(): Record<string, string>;
  fetch(): typeof globalThis.fetch;
  report(error: IntersebdError): void;
}

const STATUSES = new Set(["draft", "shadow", "running", "stopped", "promoted"]);
const UNITS = new Set(["userId", "sessionId", "request"]);
const FETCH_TIMEOUT_MS = 10_000;

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);
const nonEmpty = (v: unknown): v is string => typeof v === "string" && v.length > 0;

/** The definition from the server's JSON, or undefined when it is not one (an older or foreign server). */
export function readDefinition(body: unknown): ExperimentDefinition | undefined {
  if (!isRecord(body)) return undefined;
  const { name, status, unit, salt, control, variants, allocation } = body;
  if (!nonEmpty(name) || typeof salt !== "string" || !nonEmpty(control)) return undefined;
  if (typeof status !== "string" || !STATUSES.has(status)) return undefined;
  if (typeof unit !== "string" || !UNITS.has(unit)) return undefined;
  if (!Array.isArray(variants) || !variants.every((v) => isRecord(v) && nonEmpty(v.name))) return undefined;
  if (
    !Array.isArray(allocation) ||
    !allocation.every(
      (r) => isRecord(r) && nonEmpty(r.variant) && Number.isInteger(r.from) && Number.isInteger(r.to),
    )
  )
    return undefined;
  const promoted = isRecord(body.promoted) && nonEmpty(body.promoted.variant) ? body.promoted : undefined;
  return {
    name,
    version: typeof body.version === "number" ? body.version : 0,
    status: status as ExperimentDefinition["status"],
    unit: unit as ExperimentDefinition["unit"],
    salt,
    control,
    variants: variants as ExperimentDefinition["variants"],
    allocation: allocation as BucketRange[],
    promoted: promoted ? { variant: promoted.variant as string } : undefined,
  };
}

function overridesOf(def: ExperimentDefinition, variant: string): VariantOverrides {
  const v = def.variants.find((x) => x.name === variant);
  if (!v) return {};
  const out: VariantOverrides = {};
  if (nonEmpty(v.model)) out.model = v.model;
  if (typeof v.systemPrompt === "string") out.systemPrompt = v.systemPrompt;
  if (isRecord(v.params)) out.params = v.params;
  if (nonEmpty(v.promptVersion)) out.promptVersion = v.promptVersion;
  if (Array.isArray(v.messages)) out.messages = v.messages;
  return out;
}

function unitHeaders(who: VariantUnit | undefined): Record<string, string> {
  const h: Record<string, string> = {};
  if (nonEmpty(who?.userId)) h["x-intersebd-user-id"] = who.userId;
  if (nonEmpty(who?.sessionId)) h["x-intersebd-session-id"] = who.sessionId;
  return h;
}

/**
 * The assignment for a known definition, by the proxy's rules: draft, shadow and stopped give the control,
 * running assigns over the experiment's unit (no id: the control, with no unit recorded), promoted gives the
 * promoted variant. Pure; exported for tests and for callers holding a definition of their own.
 */
export function assign(def: ExperimentDefinition, who: VariantUnit | undefined): Assignment {
  const own = def.unit === "userId" ? who?.userId : def.unit === "sessionId" ? who?.sessionId : undefined;
  const id = nonEmpty(own) ? own : nonEmpty(who?.unit) ? who.unit : undefined;
  let variant = def.control;
  let assignmentUnit: string | null = null;
  if (def.status === "promoted" && def.promoted) {
    variant = def.promoted.variant;
    if (id !== undefined) assignmentUnit = `${def.unit}:${id}`;
  } else if (def.status === "running" && id !== undefined) {
    variant =
      assignVariant({ name: def.name, salt: def.salt, allocation: def.allocation }, id) ?? def.control;
    assignmentUnit = `${def.unit}:${id}`;
  }
  const headers: Record<string, string> = {
    "x-intersebd-experiment": def.name,
    "x-intersebd-variant": variant,
    ...unitHeaders(who),
  };
  // An id given as `unit` for a per-user or per-session experiment goes in that header: the proxy records the
  // unit from its headers.
  if (id !== undefined && def.unit === "userId") headers["x-intersebd-user-id"] = id;
  if (id !== undefined && def.unit === "sessionId") headers["x-intersebd-session-id"] = id;
  return {
    experiment: def.name,
    variant,
    control: variant === def.control,
    overrides: overridesOf(def, variant),
    headers,
    assignmentUnit,
  };
}

interface Entry {
  definition: ExperimentDefinition | undefined;
  /** The fetch in progress, if any. */
  fetching: Promise<void> | undefined;
  /** Settles after the first fetch, whatever its outcome. */
  first: Promise<void>;
  settleFirst: () => void;
  /** Whether the last fetch failed (a failure is reported once, not every refresh). */
  failing: boolean;
}

/**
 * The experiments cache of one `Intersebd` client, `intersebd.experiments`: definitions by name, refreshed every
 * `refreshMs` by one unref'd timer (it never keeps a process alive).
 */
export class Experiments {
  readonly #host: ExperimentsHost;
  readonly #refreshMs: number;
  readonly #entries = new Map<string, Entry>();
  #timer: Timer | undefined;

  constructor(host: ExperimentsHost, refreshMs: number) {
    this.#host = host;
    this.#refreshMs = refreshMs;
  }

  /** See `Intersebd.variant`. */
  variant(name: string, who?: VariantUnit): Assignment {
    try {
      if (!this.#host.enabled || !nonEmpty(name)) return this.#unknown(name, who, false);
      const entry = this.#entry(name);
      return entry.definition ? assign(entry.definition, who) : this.#unknown(name, who, true);
    } catch (err) {
      this.#host.report(
        new IntersebdError(`variant(${JSON.stringify(name)}) failed: ${(err as Error)?.message ?? err}`, {
          code: "invalid_input",
          kind: "experiment",
          cause: err,
        }),
      );
      return this.#unknown(typeof name === "string" ? name : String(name), undefined, false);
    }
  }

  /**
   * Resolves once the experiment's definition was fetched for the first time (or the fetch failed, or
   * `timeoutMs` passed): whether it is known now. Starts the fetch if nothing asked for it yet. Never rejects.
   *
   * @example
   * ```ts
   * await intersebd.experiments.ready("titles", { timeoutMs: 2000 }); // at start-up, before serving
   * ```
   */
  async ready(name: string, options: { timeoutMs?: number } = {}): Promise<boolean> {
    if (!this.#host.enabled || !nonEmpty(name)) return false;
    const entry = this.#entry(name);
    await this.#within(entry.first, options.timeoutMs);
    return entry.definition !== undefined;
  }

  /**
   * Fetches the definition now (of one experiment, or of every one asked for so far) and resolves when done:
   * whether every one asked for is known. Never rejects.
   *
   * @example
   * ```ts
   * await intersebd.experiments.refresh("titles"); // after changing its weights, without waiting for the timer
   * ```
   */
  async refresh(name?: string, options: { timeoutMs?: number } = {}): Promise<boolean> {
    if (!this.#host.enabled) return false;
    const names = name === undefined ? [...this.#entries.keys()] : nonEmpty(name) ? [name] : [];
    const entries = names.map((n) => this.#entry(n, false));
    await this.#within(
      Promise.all(entries.map((e, i) => this.#fetch(names[i] as string, e))),
      options.timeoutMs,
    );
    return entries.every((e) => e.definition !== undefined);
  }

  /** The cached definition, if any (for inspection and tests). */
  definition(name: string): ExperimentDefinition | undefined {
    return this.#entries.get(name)?.definition;
  }

  /** Stops the refresh timer; definitions stay cached. */
  stop(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #unknown(name: string, who: VariantUnit | undefined, enabled: boolean): Assignment {
    return {
      experiment: name,
      variant: null,
      control: true,
      overrides: {},
      // Without the variant the proxy picks it (the same one) and applies its overrides itself.
      headers: enabled ? { "x-intersebd-experiment": name, ...unitHeaders(who) } : {},
      assignmentUnit: null,
    };
  }

  #entry(name: string, fetchIfNew = true): Entry {
    let entry = this.#entries.get(name);
    if (entry) return entry;
    let settleFirst = () => {};
    const first = new Promise<void>((resolve) => {
      settleFirst = resolve;
    });
    entry = { definition: undefined, fetching: undefined, first, settleFirst, failing: false };
    this.#entries.set(name, entry);
    if (fetchIfNew) void this.#fetch(name, entry);
    this.#schedule();
    return entry;
  }

  #schedule(): void {
    if (this.#timer !== undefined) return;
    const t = setTimeout(() => {
      this.#timer = undefined;
      if (!this.#host.enabled) {
        this.#schedule();
        return;
      }
      void Promise.all([...this.#entries].map(([n, e]) => this.#fetch(n, e))).finally(() => this.#schedule());
    }, this.#refreshMs);
    unrefTimer(t);
    this.#timer = t;
  }

  /** One fetch of a definition; a fetch already in flight is shared. Keeps the last definition on any failure. */
  #fetch(name: string, entry: Entry): Promise<void> {
    entry.fetching ??= this.#load(name, entry).finally(() => {
      entry.fetching = undefined;
      entry.settleFirst();
    });
    return entry.fetching;
  }

  async #load(name: string, entry: Entry): Promise<void> {
    let problem: { message: string; code: string; status?: number; cause?: unknown } | undefined;
    try {
      const res = await this.#host.fetch()(this.#host.url(`/api/experiments/${encodeURIComponent(name)}`), {
        headers: this.#host.headers(),
        signal: AbortSignal.timeout?.(FETCH_TIMEOUT_MS),
      });
      const text = await res.text();
      if (res.ok) {
        const def = readDefinition(JSON.parse(text));
        if (def) {
          entry.definition = def;
          entry.failing = false;
          return;
        }
        problem = {
          message: "the server's answer is not an experiment definition",
          code: "invalid_response",
        };
      } else {
        problem = {
          message:
            res.status === 404
              ? "no such experiment on the server (variant() answers the control)"
              : `HTTP ${res.status}: ${text.slice(0, 200)}`,
          code: res.status === 404 ? "not_found" : `http_${res.status}`,
          status: res.status,
        };
      }
    } catch (err) {
      problem = { message: (err as Error)?.message ?? String(err), code: "network_error", cause: err };
    }
    if (problem && !entry.failing) {
      entry.failing = true;
      this.#host.report(
        new IntersebdError(
          `experiment ${JSON.stringify(name)} could not be fetched: ${problem.message}` +
            (entry.definition ? " (keeping the last definition)" : ""),
          { code: problem.code, status: problem.status, kind: "experiment", cause: problem.cause },
        ),
      );
    }
  }

  /** Waits for `p`, or at most `timeoutMs`; a timer that only a waiting caller holds keeps the process alive. */
  async #within(p: Promise<unknown>, timeoutMs: number | undefined): Promise<void> {
    if (timeoutMs === undefined) {
      await p;
      return;
    }
    let t: Timer | undefined;
    try {
      await Promise.race([
        p,
        new Promise<void>((resolve) => {
          t = setTimeout(resolve, Math.max(0, timeoutMs));
          refTimer(t);
        }),
      ]);
    } finally {
      if (t !== undefined) clearTimeout(t);
    }
  }
}
