/**
 * `GET /api/status`: the runtime's shape, for operators and probes, with nothing an attacker could use: no
 * secret, no path, no URL, no prompt, no user id. And `GET /api/status/config-changes`: each configuration hash
 * the stored calls carry, with when it was first and last seen, for the trends timeline.
 */
import fsp from "node:fs/promises";
import path from "node:path";
import { sql } from "kysely";
import { z } from "zod";
import { configHash } from "../calls/index.ts";
import type { AppContext } from "../context.ts";
import { SERVER_VERSION } from "../util/version.ts";

/** The workers whose state the status reports (started in compose.ts). */
export interface StatusWorkers {
  evalWorker: { readonly inFlight: number };
  liveWorker: { readonly inFlight: number };
}

export const statusSchema = z.object({
  version: z.string(),
  store: z.enum(["sqlite", "postgres"]),
  storeReachable: z.boolean(),
  capture: z.enum(["full", "redacted", "metadata"]),
  upstreams: z.array(z.string()).describe("the configured upstreams' names"),
  configHash: z.string().describe("the hash stored on each call captured now (calls/provenance.ts)"),
  auth: z.boolean().describe("whether requests need a key"),
  sampling: z.object({ rate: z.number(), rules: z.number().int(), hashUserIds: z.boolean() }),
  queue: z.object({
    depth: z.number().int().describe("calls answered and waiting in memory to be stored (at most max)"),
    max: z.number().int(),
    journaled: z
      .number()
      .int()
      .describe(
        "calls answered while the queue was full, waiting in the answered journal on disk to be stored",
      ),
  }),
  spool: z
    .object({ files: z.number().int(), bytes: z.number().int() })
    .describe("calls waiting on disk for the store to answer"),
  jobs: z.object({
    evals: z.object({ inFlight: z.number().int() }),
    live: z.object({ inFlight: z.number().int() }),
  }),
});
export type StatusView = z.infer<typeof statusSchema>;

/** Spool files and their size; the answered journal (`journal-*`) is not a backlog and is left out. */
async function spoolState(dir: string): Promise<{ files: number; bytes: number }> {
  let files = 0;
  let bytes = 0;
  try {
    for (const f of await fsp.readdir(dir)) {
      if (!f.startsWith("spool-")) continue;
      try {
        bytes += (await fsp.stat(path.join(dir, f))).size;
        files++;
      } catch {}
    }
  } catch {}
  return { files, bytes };
}

export async function statusView(ctx: AppContext, workers: StatusWorkers): Promise<StatusView> {
  const { config, recorder } = ctx;
  return {
    version: SERVER_VERSION,
    store: config.db.kind,
    storeReachable: recorder.storeReachable,
    capture: config.capture,
    upstreams: [...config.upstreams.keys()],
    configHash: configHash(config),
    auth: config.apiKey !== undefined,
    sampling: {
      rate: config.sampling.rate,
      rules: config.sampling.rules.length,
      hashUserIds: config.userIds.hash,
    },
    queue: { depth: recorder.queueDepth, max: config.queueMax, journaled: recorder.journaled },
    spool: await spoolState(path.join(config.dataDir, "spool")),
    jobs: {
      evals: { inFlight: workers.evalWorker.inFlight },
      live: { inFlight: workers.liveWorker.inFlight },
    },
  };
}

export const configChangesSchema = z.object({
  data: z.array(
    z.object({
      configHash: z.string(),
      firstSeen: z.number().describe("the first stored call with this hash started then (ms)"),
      lastSeen: z.number(),
      calls: z.number().int(),
      current: z.boolean().describe("the hash of this server's configuration now"),
    }),
  ),
});

/** Each configuration hash among the stored calls started in [from, to), oldest first (at most 500). */
export async function configChanges(
  ctx: AppContext,
  range: { from?: number; to?: number },
): Promise<z.infer<typeof configChangesSchema>> {
  let q = ctx.store.db
    .selectFrom("calls")
    .select([
      "configHash",
      sql<number>`min(started_at)`.as("firstSeen"),
      sql<number>`max(started_at)`.as("lastSeen"),
      sql<number>`count(*)`.as("calls"),
    ])
    .where("configHash", "is not", null);
  if (range.from !== undefined) q = q.where("startedAt", ">=", range.from);
  if (range.to !== undefined) q = q.where("startedAt", "<", range.to);
  const rows = await q.groupBy("configHash").orderBy("firstSeen").limit(500).execute();
  const now = configHash(ctx.config);
  return {
    data: rows.map((r) => ({
      configHash: r.configHash as string,
      firstSeen: Number(r.firstSeen),
      lastSeen: Number(r.lastSeen),
      calls: Number(r.calls),
      current: r.configHash === now,
    })),
  };
}
