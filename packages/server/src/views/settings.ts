/**
 * The settings page's data: how this server is configured, with every secret left out (keys become `hasKey`,
 * the webhook URL is reduced to its host, credentials in URLs are dropped).
 */
import type { Config } from "../config/index.ts";

export interface SettingsView {
  version: string;
  upstreams: Array<{ name: string; baseUrl: string; hasKey: boolean }>;
  capture: Config["capture"];
  webhook: { configured: boolean; url?: string; signing: boolean };
  publicUrl: string | null;
  auth: boolean;
  tokenTtlSeconds: number;
}

function withoutCredentials(url: URL): string {
  const u = new URL(url);
  u.username = "";
  u.password = "";
  u.search = "";
  return u.toString().replace(/\/$/, "");
}

export function settingsView(config: Config, version: string): SettingsView {
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
  };
}
