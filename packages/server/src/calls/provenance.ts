/**
 * Configuration provenance: every stored call carries `config_hash`, a hash of the effective configuration that
 * decides how calls are forwarded and captured, computed once at start. A change in traffic can then be traced to
 * a change of configuration (the trends page marks each new hash).
 *
 * What is hashed (`configShape`): the server version, the capture mode and redaction patterns, each upstream's
 * name, scheme, host name and path (no port, no key), the body and timeout limits, the sampling settings, whether
 * user ids are hashed, whether an API key is required, the store kind and the link depth. Never a secret (API
 * keys, upstream keys, webhook, token and user id secrets), a file path, a host or port this server listens on,
 * or a queue tuning knob.
 */
import { createHash } from "node:crypto";
import type { Config } from "../config/index.ts";
import { SERVER_VERSION } from "../util/version.ts";

/** The non-secret settings hashed into `config_hash`, in a fixed order. */
export function configShape(config: Config): Record<string, unknown> {
  return {
    version: SERVER_VERSION,
    capture: config.capture,
    redactPatterns: config.redactPatterns.map((p) => p.pattern()),
    upstreams: [...config.upstreams.values()]
      .map((u) => ({
        name: u.name,
        url: `${u.baseUrl.protocol}//${u.baseUrl.hostname}${u.baseUrl.pathname}`,
      }))
      .sort((a, b) => a.name.localeCompare(b.name)),
    maxBodyBytes: config.maxBodyBytes,
    upstreamTimeoutMs: config.upstreamTimeoutMs,
    sampling: config.sampling,
    hashUserIds: config.userIds.hash,
    auth: config.apiKey !== undefined,
    store: config.db.kind,
    linkDepth: config.linkDepth,
  };
}

const hashes = new WeakMap<Config, string>();

/** `config_hash`: the first 16 hex digits of the SHA-256 of `configShape` as JSON; computed once per config. */
export function configHash(config: Config): string {
  let h = hashes.get(config);
  if (!h) {
    h = createHash("sha256")
      .update(JSON.stringify(configShape(config)))
      .digest("hex")
      .slice(0, 16);
    hashes.set(config, h);
  }
  return h;
}
