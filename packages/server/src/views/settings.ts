/**
 * The settings page's data: how this server is configured, with every secret left out (keys become `hasKey`,
 * the webhook URL is reduced to its host, credentials in URLs are dropped).
 */
import type { Config } from "../config/index.ts";
import type { Store } from "../store/index.ts";

/** The store's kind and size, and the retention that bounds it (retention/README.md). */
export interface StoreView {
  kind: "sqlite" | "postgres";
  /** Bytes (SQLite: file and WAL; PostgreSQL: our tables and indexes); null when the store did not answer. */
  bytes: number | null;
  /** Each horizon in days; null: kept for good. */
  retention: { bodiesDays: number | null; callsDays: number | null; keptDays: number | null };
}

export interface SettingsView {
  version: string;
  upstreams: Array<{ name: string; baseUrl: string; hasKey: boolean }>;
  capture: Config["capture"];
  webhook: { configured: boolean; url?: string; signing: boolean };
  publicUrl: string | null;
  auth: boolean;
  tokenTtlSeconds: number;
  store?: StoreView;
}

function withoutCredentials(url: URL): string {
  const u = new URL(url);
  u.username = "";
  u.password = "";
  u.search = "";
  return u.toString().replace(/\/$/, "");
}

const DAY_MS = 24 * 3600 * 1000;

export async function storeView(store: Store, config: Config): Promise<StoreView> {
  const days = (ms: number | undefined) => (ms === undefined ? null : ms / DAY_MS);
  const r = config.retention;
  return {
    kind: store.dialect.name,
    bytes: await store.sizeBytes().catch(() => null),
    retention: { bodiesDays: days(r.bodiesMs), callsDays: days(r.callsMs), keptDays: days(r.keptMs) },
  };
}

export function settingsView(config: Config, version: string, store?: StoreView): SettingsView {
  let host: string | undefined;
  if (config.webhook) {
    try {
      host = new URL(config.webhook.url).host;
    } catch {}
  }
  return {
    version,
    upstreams: [...config.upstreams.values()].map((u) => ({
      name: u.name,
      baseUrl: withoutCredentials(u.baseUrl),
      hasKey: Boolean(u.apiKey),
    })),
    capture: config.capture,
    webhook: config.webhook
      ? { configured: true, url: host, signing: Boolean(config.webhook.secret) }
      : { configured: false, signing: false },
    publicUrl: config.publicUrl ?? null,
    auth: Boolean(config.apiKey),
    tokenTtlSeconds: config.tokenTtlSeconds,
    ...(store ? { store } : {}),
  };
}
