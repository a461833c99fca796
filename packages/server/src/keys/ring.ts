/**
 * The keys every request is checked against, held in memory so that neither the proxy nor the API queries the
 * store per request: reloaded every `INTERSEBD_KEYS_REFRESH_MS` (another instance's change) and at once after a
 * change through this instance's API. A key's last use is written back with the next reload, at most once a
 * minute per key.
 */
import { HttpError } from "../http/error.ts";
import type { RouteScope, Scope } from "../http/index.ts";
import type { Store } from "../store/index.ts";
import { keyMatches } from "../util/auth.ts";
import type { Logger } from "../util/log.ts";
import { hashSecret, listKeys, touchKeys } from "./book.ts";

/** Who a request is: a stored key, or `INTERSEBD_API_KEY` (id `env`, an admin key). */
export interface Principal {
  id: string;
  name: string;
  scopes: ReadonlySet<Scope>;
  /** Upstream names the key may proxy to; null: any. */
  upstreams: ReadonlySet<string> | null;
}

interface Entry {
  principal: Principal;
  revoked: boolean;
}

const ENV_PRINCIPAL: Principal = {
  id: "env",
  name: "INTERSEBD_API_KEY",
  scopes: new Set<Scope>(["admin"]),
  upstreams: null,
};

const LAST_USED_GRANULARITY_MS = 60_000;

const missingKey = () =>
  new HttpError(401, "missing API key: send it as x-intersebd-key or Authorization: Bearer", {
    code: "unauthorized",
  });

/** True when `principal` may call a route declaring `scope` (`admin` may call every route). */
export function allows(principal: Principal, scope: RouteScope): boolean {
  if (scope === "link" || principal.scopes.has("admin")) return true;
  const any: readonly Scope[] = typeof scope === "string" ? [scope] : scope;
  return any.some((s) => principal.scopes.has(s));
}

/** A 403 naming the scope a route needs, for a key that lacks it. */
export function forbidden(principal: Principal, scope: RouteScope, what: string): HttpError {
  const needed = typeof scope === "string" ? scope : scope.join(" or ");
  return new HttpError(
    403,
    `${what} needs an API key with scope ${needed} (or admin); key ${principal.id === "env" ? "INTERSEBD_API_KEY" : principal.id} has ${[...principal.scopes].join(", ")}`,
    { code: "forbidden", field: "scope" },
  );
}

export class KeyRing {
  readonly #store: Store | undefined;
  readonly #log: Logger | undefined;
  readonly #envKey: string | undefined;
  #byHash = new Map<string, Entry>();
  /** Key id → when its last use was (or will be, at the next reload) written. */
  #usedAt = new Map<string, number>();
  #toTouch = new Set<string>();
  #timer: NodeJS.Timeout | undefined;
  #failing = false;

  /** Without a store it knows only the environment's key (createApi's default, for tests of the API alone). */
  constructor(envKey: string | undefined, store?: Store, log?: Logger) {
    this.#envKey = envKey;
    this.#store = store;
    this.#log = log;
  }

  /**
   * Whether requests need a key at all: one is configured in the environment or one was ever created. Revoking
   * the last key does not open the server again (INTERSEBD_API_KEY is the way back in).
   */
  get enabled(): boolean {
    return this.#envKey !== undefined || this.#byHash.size > 0;
  }

  /** Reloads the stored keys and writes the last uses noted since the previous reload. */
  async refresh(): Promise<void> {
    const store = this.#store;
    if (!store) return;
    const touched = [...this.#toTouch];
    this.#toTouch.clear();
    const now = Date.now();
    try {
      await touchKeys(store, touched, now);
    } catch (err) {
      for (const id of touched) this.#toTouch.add(id);
      throw err;
    }
    const rows = await listKeys(store);
    const next = new Map<string, Entry>();
    for (const row of rows) {
      const revoked = row.revokedAt !== null;
      if (row.lastUsedAt !== null && !this.#usedAt.has(row.id))
        this.#usedAt.set(row.id, Number(row.lastUsedAt));
      next.set(row.secretHash, {
        revoked,
        principal: {
          id: row.id,
          name: row.name,
          scopes: new Set(JSON.parse(row.scopes) as Scope[]),
          upstreams: row.upstreams === null ? null : new Set(JSON.parse(row.upstreams) as string[]),
        },
      });
    }
    this.#byHash = next;
  }

  /**
   * Reloads every `ms` in the background. A failed reload keeps the keys last loaded (a database outage must not
   * lock everyone out) and is logged once until one succeeds.
   */
  start(ms: number): void {
    this.#timer = setInterval(() => {
      this.refresh().then(
        () => {
          if (this.#failing) this.#log?.info("keys: reloading API keys works again");
          this.#failing = false;
        },
        (err: unknown) => {
          if (!this.#failing)
            this.#log?.warn(`keys: reloading API keys failed, keeping the last loaded: ${String(err)}`);
          this.#failing = true;
        },
      );
    }, ms);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    // The last uses noted since the last reload; a closed or unreachable store is not worth failing shutdown for.
    if (this.#store && this.#toTouch.size)
      await touchKeys(this.#store, [...this.#toTouch], Date.now()).catch(() => {});
    this.#toTouch.clear();
  }

  /**
   * Who presents `secret`: the principal, or a 401 for a missing, unknown or revoked key. Only call it when
   * `enabled`: with no key at all, every request is let through.
   */
  authenticate(secret: string | undefined, now = Date.now()): Principal | HttpError {
    if (!secret) return missingKey();
    if (this.#envKey !== undefined && keyMatches(secret, this.#envKey)) return ENV_PRINCIPAL;
    const entry = this.#byHash.get(hashSecret(secret));
    if (!entry)
      return new HttpError(401, "unknown API key (x-intersebd-key or Authorization: Bearer)", {
        code: "unauthorized",
      });
    if (entry.revoked)
      return new HttpError(401, `API key ${entry.principal.id} was revoked`, { code: "unauthorized" });
    const { id } = entry.principal;
    if (now - (this.#usedAt.get(id) ?? 0) >= LAST_USED_GRANULARITY_MS) {
      this.#usedAt.set(id, now);
      this.#toTouch.add(id);
    }
    return entry.principal;
  }

  /**
   * The proxy's check: with keys on, an `ingest` (or admin) key that may use `upstream` (unset: the caller only
   * asks which upstreams exist, any ingest key may). Undefined: let it through.
   */
  authorizeProxy(secret: string | undefined, upstream?: string): HttpError | undefined {
    if (!this.enabled) return undefined;
    const who = this.authenticate(secret);
    if (who instanceof HttpError) return who;
    if (!allows(who, "ingest")) return forbidden(who, "ingest", "the proxy");
    if (upstream !== undefined && who.upstreams && !who.upstreams.has(upstream))
      return new HttpError(
        403,
        `API key ${who.id} may not use upstream ${upstream} (it may use ${[...who.upstreams].join(", ")})`,
        { code: "forbidden", field: "upstream" },
      );
    return undefined;
  }
}
