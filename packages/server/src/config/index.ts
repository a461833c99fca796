/**
 * The server's configuration: one schema for every `INTERSEBD_*` variable, parsed once at start.
 * CLI flags override the environment (see `cli/main.ts`); nothing else reads `process.env`.
 */
import path from "node:path";
import { z } from "zod";
import { compileUserPattern, type UserPattern } from "../util/user-pattern.ts";
import { parseRateLimits, type RateLimitsConfig } from "./rate-limits.ts";
import { parseKeepReasons, parseSampleRules, type SamplingConfig, type UserIdConfig } from "./sampling.ts";

const DEFAULT_UPSTREAM = "https://api.openai.com/v1";
/** Addresses that only this machine can reach: binding to one is what lets auth stay off. */
export const LOOPBACK_HOSTS = new Set(["127.0.0.1", "localhost", "::1", "[::1]"]);

export const captureModes = ["full", "redacted", "metadata"] as const;
export type CaptureMode = (typeof captureModes)[number];

/** A named OpenAI-compatible server that the proxy forwards to. */
export interface Upstream {
  name: string;
  /** Base URL including its `/v1` (or equivalent) prefix, without a trailing slash. */
  baseUrl: URL;
  /** Injected as `Authorization: Bearer` only when the client sends no credentials of its own. */
  apiKey?: string;
}

const positiveInt = z.coerce.number().int().positive();

/** Every variable the server reads, with its default and unit. */
export const envSchema = z.object({
  INTERSEBD_PORT: z.coerce.number().int().min(0).max(65535).default(8787),
  INTERSEBD_HOST: z.string().min(1).default("127.0.0.1"),
  /** The default upstream, reached at `/v1/*`. */
  INTERSEBD_UPSTREAM: z.url().default(DEFAULT_UPSTREAM),
  /** Its API key, injected when the client sends none. */
  INTERSEBD_UPSTREAM_KEY: z.string().optional(),
  /** Named upstreams, `name=url,name=url`, reached at `/<name>/v1/*`; keys in `INTERSEBD_UPSTREAM_KEY_<NAME>`. */
  INTERSEBD_UPSTREAMS: z.string().default(""),
  /** `postgres://...` for PostgreSQL, a file path for SQLite; unset: SQLite in the data directory. */
  DATABASE_URL: z.string().optional(),
  INTERSEBD_DB: z.string().optional(),
  /**
   * How long `serve` keeps retrying a database it cannot reach at start, seconds (default 60; 0: fail at once).
   * Containers start together and compose tools do not all wait for PostgreSQL's healthcheck.
   */
  INTERSEBD_DB_WAIT_SECONDS: z.coerce.number().int().min(0).default(60),
  INTERSEBD_DATA_DIR: z.string().default(".intersebd"),
  INTERSEBD_CAPTURE: z.enum(captureModes).default("full"),
  /** Extra regular expressions to mask in `redacted` mode, separated by newlines or `;;`. */
  INTERSEBD_REDACT_PATTERNS: z.string().default(""),
  /** When set, `/api` and the proxy require it (`x-intersebd-key`, or `Authorization: Bearer` on `/api`). */
  INTERSEBD_API_KEY: z.string().min(1).optional(),
  /** Largest accepted request body, bytes (default 20 MiB); larger gets 413. */
  INTERSEBD_MAX_BODY_BYTES: positiveInt.default(20 * 1024 * 1024),
  /** How long to wait for the upstream's response headers, ms (default 10 min, as the openai client). */
  INTERSEBD_UPSTREAM_TIMEOUT_MS: positiveInt.default(600_000),
  /**
   * Proxy rate limits per API key, user id and upstream (config/rate-limits.ts, limits/README.md), e.g.
   * `key:600rpm,key:200k tpm,user:60rpm,upstream:openai=3000rpm`; empty (default): none.
   */
  INTERSEBD_RATE_LIMITS: z.string().default(""),
  /** Redis shared by every instance for rate limits (`redis://[:password@]host:6379/0`); unset: in process. */
  REDIS_URL: z.string().optional(),
  /** How long a request waits for Redis before it goes through unlimited, ms (default 250). */
  INTERSEBD_RATE_LIMITS_REDIS_TIMEOUT_MS: positiveInt.default(250),
  /** Prefix of the rate limits' Redis keys (default `intersebd:rl:`): deployments sharing a Redis set their own. */
  INTERSEBD_RATE_LIMITS_REDIS_PREFIX: z.string().min(1).default("intersebd:rl:"),
  /** Captured calls held in memory awaiting the store; past this, new calls are dropped and counted. */
  INTERSEBD_QUEUE_MAX: positiveInt.default(10_000),
  /**
   * Write-behind flush: at most this many ms between flushes, and this many records per batch. Calls queued for
   * 50 ms outlived two young-generation collections under load and filled the old generation: peak RSS rose by
   * 30 to 80 MB, against 20 ms, for no CPU saved.
   */
  INTERSEBD_FLUSH_MS: positiveInt.default(20),
  INTERSEBD_BATCH_SIZE: positiveInt.default(500),
  /**
   * The CPU class of the SQLite writer thread: `idle` (Linux's SCHED_IDLE, once calls are stored without delay: it
   * runs on cores nothing else wants, so its batches never make a request wait; util/thread-priority.ts) or
   * `normal`. An idle writer whose oldest batch waits too long (every core busy with other work) is replaced by a
   * normal one (writer.ts).
   */
  INTERSEBD_WRITER_PRIORITY: z.enum(["idle", "normal"]).default("idle"),
  /**
   * How often the proxy reloads the experiments it routes by, ms (default 2 s): another instance's change is seen
   * within that; a change through this instance's API at once.
   */
  INTERSEBD_EXPERIMENTS_REFRESH_MS: positiveInt.default(2000),
  /**
   * How often each instance reloads the scoped API keys it checks requests against, ms (default 10 s): a key
   * created or revoked through another instance works or is refused within that; through this one at once.
   */
  INTERSEBD_KEYS_REFRESH_MS: positiveInt.default(10_000),
  /** How many links a resolution follows at most. */
  INTERSEBD_LINK_DEPTH: positiveInt.max(64).default(10),
  /**
   * After an erasure (erasure/README.md): `plain` (default) truncates SQLite's WAL and runs VACUUM on PostgreSQL's
   * touched tables; `full` also rewrites the whole file (SQLite VACUUM, PostgreSQL VACUUM FULL: locks); `off`: neither.
   */
  INTERSEBD_ERASURE_VACUUM: z.enum(["off", "plain", "full"]).default("plain"),
  /** Absolute URL of this server as people reach it, for links in notifications. */
  INTERSEBD_PUBLIC_URL: z.url().optional(),
  /**
   * Other web origins whose pages may call the API and the proxy from a browser (`https://app.example.com`),
   * comma-separated; every other site is refused (see `util/browser-guard.ts`).
   */
  INTERSEBD_ALLOWED_ORIGINS: z.string().default(""),
  INTERSEBD_LOG_LEVEL: z.enum(["silent", "error", "warn", "info", "debug"]).default("info"),
  /**
   * `text` (default): one human-readable line per event on stderr. `json`: one JSON object per line (level, time,
   * pid, component, call id where known, message), for a log collector; set it in a deployment's environment.
   */
  INTERSEBD_LOG_FORMAT: z.enum(["text", "json"]).default("text"),
  /** Where notifications are POSTed (Standard Webhooks signature); unset: no webhook. */
  INTERSEBD_WEBHOOK_URL: z.url().optional(),
  /** The webhook signing secret, `whsec_<base64>`. */
  INTERSEBD_WEBHOOK_SECRET: z
    .string()
    .regex(/^whsec_[A-Za-z0-9+/=]+$/, "must look like whsec_<base64>")
    .optional(),
  /** First webhook retry delay, ms (default 5 s); each further retry waits 4× longer, at most 6 hours. */
  INTERSEBD_WEBHOOK_RETRY_BASE_MS: positiveInt.default(5000),
  /** Delivery attempts before a webhook is marked failed (default 8: about 7 hours at the default base). */
  INTERSEBD_WEBHOOK_MAX_ATTEMPTS: positiveInt.max(100).default(8),
  /** How often the alert rules are evaluated, ms (default 30 s). */
  INTERSEBD_ALERTS_EVAL_MS: positiveInt.default(30_000),
  /** Where alerts are POSTed when a rule names no `webhookUrl` (signed with INTERSEBD_WEBHOOK_SECRET). */
  INTERSEBD_ALERTS_WEBHOOK_URL: z.url().optional(),
  /** HMAC key for annotation links (`/a/{token}`); unset: generated once and kept in the store. */
  INTERSEBD_TOKEN_SECRET: z.string().min(16).optional(),
  /** How long an annotation link stays valid, seconds (default 7 days). */
  INTERSEBD_TOKEN_TTL_SECONDS: positiveInt.default(7 * 24 * 3600),
  /** JSON file of rubrics (named feedback forms) loaded at start. */
  INTERSEBD_RUBRICS_FILE: z.string().optional(),
  /** Testing only: SIGKILL the process at a point of the capture flush, to prove crash safety. */
  INTERSEBD_FAULT_INJECT: z.enum(["crash-after-insert"]).optional(),
  /** Testing only: check each API answer against its route's response schema; a mismatch answers 500 naming it. */
  INTERSEBD_CHECK_RESPONSES: z.enum(["0", "1"]).default("0"),
  /** JSON file of checks (evaluations) loaded at start. */
  INTERSEBD_CHECKS_FILE: z.string().optional(),
  /** Retention (retention/README.md): drop calls' request and response bodies after this many days; unset: never. */
  INTERSEBD_RETENTION_BODIES_DAYS: z.coerce.number().positive().optional(),
  /** Delete calls (their rows and what hangs only on them) after this many days; unset: never. */
  INTERSEBD_RETENTION_CALLS_DAYS: z.coerce.number().positive().optional(),
  /**
   * Annotated or compared calls and calls in a dataset snapshot are exempt from both horizons above until this
   * many days; unset: kept as long as they are annotated or in a snapshot.
   */
  INTERSEBD_RETENTION_KEPT_DAYS: z.coerce.number().positive().optional(),
  /** How often the retention job runs, ms (default 10 min); each run works until nothing is due. */
  INTERSEBD_RETENTION_INTERVAL_MS: positiveInt.default(600_000),
  /** Calls per retention transaction (default 1,000), and the pause between two, ms (default 50). */
  INTERSEBD_RETENTION_BATCH: positiveInt.max(10_000).default(1000),
  INTERSEBD_RETENTION_PAUSE_MS: z.coerce.number().int().min(0).default(50),
  /** Share of calls stored, 0..1 (default 1: all); sampled-out calls still count in /metrics (calls/sampling.ts). */
  INTERSEBD_SAMPLE_RATE: z.coerce.number().min(0).max(1).default(1),
  /** Per-rule rates by model, upstream, path or experiment: `model=gpt-4o-mini:0.1;upstream=b:0.5`, or JSON. */
  INTERSEBD_SAMPLE_RULES: z.string().default(""),
  /** Calls always stored whatever the rate: any of errors, session, user, experiment (default errors). */
  INTERSEBD_SAMPLE_KEEP: z.string().default("errors"),
  /** Calls slower than this are always stored, ms (default 0: off). */
  INTERSEBD_SAMPLE_KEEP_SLOW_MS: z.coerce.number().int().min(0).default(0),
  /** Calls carrying any of these tags (comma-separated) are always stored. */
  INTERSEBD_SAMPLE_KEEP_TAGS: z.string().default(""),
  /** `1`: store user ids as `uh_<HMAC-SHA256>` keyed by INTERSEBD_USER_ID_SECRET (calls/pseudonym.ts). */
  INTERSEBD_HASH_USER_IDS: z.enum(["0", "1"]).default("0"),
  /** The key of the user id HMAC; required with INTERSEBD_HASH_USER_IDS=1, and kept: a new one splits each user in two. */
  INTERSEBD_USER_ID_SECRET: z.string().min(16).optional(),
});

export type Env = z.infer<typeof envSchema>;

export interface Config {
  port: number;
  host: string;
  upstreams: Map<string, Upstream>;
  /** Storage: `{ kind: "sqlite", file }` or `{ kind: "postgres", url }`. */
  db: { kind: "sqlite"; file: string } | { kind: "postgres"; url: string };
  /** How long `serve` retries an unreachable database at start, seconds. */
  dbWaitSeconds: number;
  dataDir: string;
  capture: CaptureMode;
  redactPatterns: UserPattern[];
  apiKey?: string;
  maxBodyBytes: number;
  upstreamTimeoutMs: number;
  /** The proxy's rate limits (limits/): the rules, and Redis when instances share them. */
  rateLimits: RateLimitsConfig;
  queueMax: number;
  flushMs: number;
  writerPriority: Env["INTERSEBD_WRITER_PRIORITY"];
  experimentsRefreshMs: number;
  keysRefreshMs: number;
  batchSize: number;
  linkDepth: number;
  /** How the database files are cleaned after an erasure (erasure/). */
  erasureVacuum: Env["INTERSEBD_ERASURE_VACUUM"];
  publicUrl?: string;
  /** Origins (`scheme://host[:port]`) allowed to send browser requests besides this server's own. */
  allowedOrigins: string[];
  logLevel: Env["INTERSEBD_LOG_LEVEL"];
  logFormat: Env["INTERSEBD_LOG_FORMAT"];
  webhook?: { url: string; secret?: string; retryBaseMs: number; maxAttempts: number };
  /** Alerts (alerts/): the evaluation period and the default webhook, signed and retried like notifications'. */
  alerts: { evalMs: number; webhookUrl?: string; secret?: string; retryBaseMs: number; maxAttempts: number };
  tokenSecret?: string;
  tokenTtlSeconds: number;
  rubricsFile?: string;
  checksFile?: string;
  faultInject?: Env["INTERSEBD_FAULT_INJECT"];
  /** Testing only: check every API answer against its response schema (the test harness sets it). */
  checkResponses: boolean;
  /** Which captured calls are stored (calls/sampling.ts). */
  sampling: SamplingConfig;
  /** Whether user ids are stored as keyed hashes (calls/pseudonym.ts). */
  userIds: UserIdConfig;
  /** Retention by age (retention/): horizons in ms, each unset when that kind of data is kept for good. */
  retention: RetentionConfig;
}

export interface RetentionConfig {
  bodiesMs?: number;
  callsMs?: number;
  /** For annotated or compared calls and calls in a dataset snapshot, instead of both horizons above. */
  keptMs?: number;
  intervalMs: number;
  batch: number;
  pauseMs: number;
}

const DAY_MS = 24 * 3600 * 1000;

/** A kept call outlives the horizons it is exempt from, or the exemption would shorten its life. */
function parseRetention(e: Env): RetentionConfig {
  const ms = (days: number | undefined) => (days === undefined ? undefined : Math.round(days * DAY_MS));
  const kept = e.INTERSEBD_RETENTION_KEPT_DAYS;
  for (const [name, days] of [
    ["INTERSEBD_RETENTION_BODIES_DAYS", e.INTERSEBD_RETENTION_BODIES_DAYS],
    ["INTERSEBD_RETENTION_CALLS_DAYS", e.INTERSEBD_RETENTION_CALLS_DAYS],
  ] as const) {
    if (kept !== undefined && days !== undefined && kept < days) {
      throw new ConfigError(
        `INTERSEBD_RETENTION_KEPT_DAYS: ${kept} is shorter than ${name} (${days}); annotated calls and calls in a snapshot are kept longer, not shorter`,
      );
    }
  }
  return {
    bodiesMs: ms(e.INTERSEBD_RETENTION_BODIES_DAYS),
    callsMs: ms(e.INTERSEBD_RETENTION_CALLS_DAYS),
    keptMs: ms(kept),
    intervalMs: e.INTERSEBD_RETENTION_INTERVAL_MS,
    batch: e.INTERSEBD_RETENTION_BATCH,
    pauseMs: e.INTERSEBD_RETENTION_PAUSE_MS,
  };
}

/** A configuration problem, reported at start with the variable or flag to fix. */
export class ConfigError extends Error {
  override name = "ConfigError";
}

/** The key for the default upstream, which `/v1/*` reaches. */
export const DEFAULT_UPSTREAM_NAME = "default";

function parseUpstreamUrl(raw: string, where: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(`${where}: "${raw}" is not a URL (expected e.g. https://api.openai.com/v1)`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new ConfigError(`${where}: "${raw}" must be an http(s) URL`);
  }
  url.pathname = url.pathname.replace(/\/+$/, "");
  return url;
}

/** Parses `name=url` pairs from a comma-separated list or repeated CLI flags. */
export function parseNamedUpstreams(
  entries: string[],
  keyFor: (name: string) => string | undefined,
  where: string,
): Upstream[] {
  return entries
    .map((e) => e.trim())
    .filter(Boolean)
    .map((entry) => {
      const eq = entry.indexOf("=");
      if (eq <= 0) throw new ConfigError(`${where}: "${entry}" should be name=url`);
      const name = entry.slice(0, eq).trim();
      if (!/^[a-z0-9][a-z0-9_-]*$/i.test(name) || name === "v1" || name === "api") {
        throw new ConfigError(
          `${where}: upstream name "${name}" must be letters, digits, - or _ (and not "v1" or "api")`,
        );
      }
      return { name, baseUrl: parseUpstreamUrl(entry.slice(eq + 1).trim(), where), apiKey: keyFor(name) };
    });
}

/** Each pattern is compiled for RE2 (linear time); one it cannot compile stops the start, naming it. */
function parseRedactPatterns(raw: string): UserPattern[] {
  return raw
    .split(/\n|;;/)
    .map((p) => p.trim())
    .filter(Boolean)
    .map((p) => {
      try {
        return compileUserPattern(p);
      } catch (err) {
        throw new ConfigError(`INTERSEBD_REDACT_PATTERNS: ${(err as Error).message}`);
      }
    });
}

function parseAllowedOrigins(raw: string): string[] {
  return raw
    .split(",")
    .map((o) => o.trim())
    .filter(Boolean)
    .map((o) => {
      let url: URL | undefined;
      try {
        url = new URL(o);
      } catch {}
      // An origin is scheme, host and port only: a path would suggest a narrower grant than the browser checks.
      if (
        !url ||
        (url.protocol !== "http:" && url.protocol !== "https:") ||
        url.origin !== o.replace(/\/$/, "")
      ) {
        throw new ConfigError(
          `INTERSEBD_ALLOWED_ORIGINS: "${o}" is not an origin (expected scheme://host[:port], e.g. https://app.example.com)`,
        );
      }
      return url.origin;
    });
}

function parseSampling(e: Env): SamplingConfig {
  const named = <T>(name: string, fn: () => T): T => {
    try {
      return fn();
    } catch (err) {
      throw new ConfigError(`${name}: ${(err as Error).message}`);
    }
  };
  return {
    rate: e.INTERSEBD_SAMPLE_RATE,
    rules: named("INTERSEBD_SAMPLE_RULES", () => parseSampleRules(e.INTERSEBD_SAMPLE_RULES)),
    keep: named("INTERSEBD_SAMPLE_KEEP", () => parseKeepReasons(e.INTERSEBD_SAMPLE_KEEP)),
    keepSlowMs: e.INTERSEBD_SAMPLE_KEEP_SLOW_MS,
    keepTags: e.INTERSEBD_SAMPLE_KEEP_TAGS.split(",")
      .map((t) => t.trim())
      .filter(Boolean),
  };
}

function parseUserIds(e: Env): UserIdConfig {
  const hash = e.INTERSEBD_HASH_USER_IDS === "1";
  if (hash && !e.INTERSEBD_USER_ID_SECRET)
    throw new ConfigError(
      "INTERSEBD_USER_ID_SECRET: required with INTERSEBD_HASH_USER_IDS=1 (at least 16 characters, e.g. `openssl rand -hex 32`)",
    );
  return { hash, secret: hash ? e.INTERSEBD_USER_ID_SECRET : undefined };
}

function rateLimitRules(raw: string): RateLimitsConfig["rules"] {
  try {
    return parseRateLimits(raw);
  } catch (err) {
    throw new ConfigError(`INTERSEBD_RATE_LIMITS: ${(err as Error).message}`);
  }
}

/** Flags given on the command line; each overrides its environment variable. */
export interface ConfigOverrides {
  port?: number;
  host?: string;
  upstream?: string[];
  db?: string;
  capture?: string;
  dataDir?: string;
}

/**
 * Builds the configuration from the environment and CLI flags.
 * @throws ConfigError naming the variable or flag and how to fix it.
 */
export function loadConfig(
  env: Record<string, string | undefined> = process.env,
  overrides: ConfigOverrides = {},
): Config {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ConfigError(`${issue?.path.join(".")}: ${issue?.message}`);
  }
  const e = parsed.data;
  const keyFor = (name: string) => env[`INTERSEBD_UPSTREAM_KEY_${name.toUpperCase().replace(/-/g, "_")}`];

  const upstreams = new Map<string, Upstream>();
  upstreams.set(DEFAULT_UPSTREAM_NAME, {
    name: DEFAULT_UPSTREAM_NAME,
    baseUrl: parseUpstreamUrl(e.INTERSEBD_UPSTREAM, "INTERSEBD_UPSTREAM"),
    apiKey: e.INTERSEBD_UPSTREAM_KEY,
  });
  for (const u of parseNamedUpstreams(e.INTERSEBD_UPSTREAMS.split(","), keyFor, "INTERSEBD_UPSTREAMS")) {
    upstreams.set(u.name, u);
  }
  for (const flag of overrides.upstream ?? []) {
    if (flag.includes("=")) {
      for (const u of parseNamedUpstreams([flag], keyFor, "--upstream")) upstreams.set(u.name, u);
    } else {
      upstreams.set(DEFAULT_UPSTREAM_NAME, {
        name: DEFAULT_UPSTREAM_NAME,
        baseUrl: parseUpstreamUrl(flag, "--upstream"),
        apiKey: e.INTERSEBD_UPSTREAM_KEY,
      });
    }
  }

  const capture = overrides.capture ?? e.INTERSEBD_CAPTURE;
  if (!(captureModes as readonly string[]).includes(capture)) {
    throw new ConfigError(`--capture: "${capture}" must be one of ${captureModes.join(", ")}`);
  }
  const dataDir = path.resolve(overrides.dataDir ?? e.INTERSEBD_DATA_DIR);
  const dbSpec = overrides.db ?? e.DATABASE_URL ?? e.INTERSEBD_DB;
  const db: Config["db"] =
    dbSpec && /^postgres(ql)?:\/\//.test(dbSpec)
      ? { kind: "postgres", url: dbSpec }
      : {
          kind: "sqlite",
          // SQLite's name for a store in memory is not a path: resolved, it made a file called `:memory:` here.
          file:
            dbSpec === ":memory:"
              ? dbSpec
              : dbSpec
                ? path.resolve(dbSpec)
                : path.join(dataDir, "intersebd.sqlite"),
        };

  const host = overrides.host ?? e.INTERSEBD_HOST;
  if (!e.INTERSEBD_API_KEY && !LOOPBACK_HOSTS.has(host)) {
    throw new ConfigError(
      `refusing to listen on ${host} without an API key: anyone who can reach it could read your calls. ` +
        `Set INTERSEBD_API_KEY, or listen on 127.0.0.1 (--host 127.0.0.1).`,
    );
  }
  const port = overrides.port ?? e.INTERSEBD_PORT;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new ConfigError(`--port: "${port}" must be a whole number from 0 to 65535`);
  }

  return {
    port,
    host,
    upstreams,
    db,
    dbWaitSeconds: e.INTERSEBD_DB_WAIT_SECONDS,
    dataDir,
    capture: capture as CaptureMode,
    redactPatterns: parseRedactPatterns(e.INTERSEBD_REDACT_PATTERNS),
    apiKey: e.INTERSEBD_API_KEY,
    maxBodyBytes: e.INTERSEBD_MAX_BODY_BYTES,
    upstreamTimeoutMs: e.INTERSEBD_UPSTREAM_TIMEOUT_MS,
    rateLimits: {
      rules: rateLimitRules(e.INTERSEBD_RATE_LIMITS),
      redisUrl: e.REDIS_URL || undefined,
      redisTimeoutMs: e.INTERSEBD_RATE_LIMITS_REDIS_TIMEOUT_MS,
      redisPrefix: e.INTERSEBD_RATE_LIMITS_REDIS_PREFIX,
    },
    queueMax: e.INTERSEBD_QUEUE_MAX,
    flushMs: e.INTERSEBD_FLUSH_MS,
    writerPriority: e.INTERSEBD_WRITER_PRIORITY,
    experimentsRefreshMs: e.INTERSEBD_EXPERIMENTS_REFRESH_MS,
    keysRefreshMs: e.INTERSEBD_KEYS_REFRESH_MS,
    batchSize: e.INTERSEBD_BATCH_SIZE,
    linkDepth: e.INTERSEBD_LINK_DEPTH,
    erasureVacuum: e.INTERSEBD_ERASURE_VACUUM,
    publicUrl: e.INTERSEBD_PUBLIC_URL?.replace(/\/+$/, ""),
    allowedOrigins: parseAllowedOrigins(e.INTERSEBD_ALLOWED_ORIGINS),
    logLevel: e.INTERSEBD_LOG_LEVEL,
    logFormat: e.INTERSEBD_LOG_FORMAT,
    webhook: e.INTERSEBD_WEBHOOK_URL
      ? {
          url: e.INTERSEBD_WEBHOOK_URL,
          secret: e.INTERSEBD_WEBHOOK_SECRET,
          retryBaseMs: e.INTERSEBD_WEBHOOK_RETRY_BASE_MS,
          maxAttempts: e.INTERSEBD_WEBHOOK_MAX_ATTEMPTS,
        }
      : undefined,
    alerts: {
      evalMs: e.INTERSEBD_ALERTS_EVAL_MS,
      webhookUrl: e.INTERSEBD_ALERTS_WEBHOOK_URL,
      secret: e.INTERSEBD_WEBHOOK_SECRET,
      retryBaseMs: e.INTERSEBD_WEBHOOK_RETRY_BASE_MS,
      maxAttempts: e.INTERSEBD_WEBHOOK_MAX_ATTEMPTS,
    },
    tokenSecret: e.INTERSEBD_TOKEN_SECRET,
    tokenTtlSeconds: e.INTERSEBD_TOKEN_TTL_SECONDS,
    rubricsFile: e.INTERSEBD_RUBRICS_FILE ? path.resolve(e.INTERSEBD_RUBRICS_FILE) : undefined,
    checksFile: e.INTERSEBD_CHECKS_FILE ? path.resolve(e.INTERSEBD_CHECKS_FILE) : undefined,
    faultInject: e.INTERSEBD_FAULT_INJECT,
    checkResponses: e.INTERSEBD_CHECK_RESPONSES === "1",
    sampling: parseSampling(e),
    userIds: parseUserIds(e),
    retention: parseRetention(e),
  };
}
