/**
 * The retention job of one server: a run at start and every INTERSEBD_RETENTION_INTERVAL_MS, one at a time in
 * this process (and one instance at a time on PostgreSQL, expire.ts). A run that fails logs and leaves the rest
 * to the next run; nothing here can fail a request or end the process.
 */
import type { AppContext } from "../context.ts";
import { storeUnavailableReason } from "../store/index.ts";
import { emptyCounts, type RetentionCounts, runRetention } from "./expire.ts";
import { reclaimSpace } from "./reclaim.ts";

export interface RetentionService {
  /** Runs retention now (or joins the run in progress); throws what the store throws. */
  run(now?: number): Promise<RetentionCounts>;
  /** The store's size, bytes, as last measured (at most 10 s old); undefined when it could not be read. */
  sizeBytes(): Promise<number | undefined>;
  stop(): Promise<void>;
}

const SIZE_TTL_MS = 10_000;

export function start(ctx: AppContext): RetentionService {
  const { store, config, log } = ctx;
  const cfg = config.retention;
  const enabled = cfg.bodiesMs !== undefined || cfg.callsMs !== undefined;
  let stopped = false;
  let running: Promise<RetentionCounts> | undefined;
  const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref());

  // A scrape or a settings page asking every second costs one query per 10 s, and a store that is down answers
  // the last size known instead of holding the scrape.
  let size: { bytes: number | undefined; at: number } | undefined;
  let measuring: Promise<number | undefined> | undefined;
  const sizeBytes = async () => {
    if (size && Date.now() - size.at < SIZE_TTL_MS) return size.bytes;
    measuring ??= store
      .sizeBytes()
      .then(
        (bytes) => bytes,
        () => size?.bytes,
      )
      .then((bytes) => {
        size = { bytes, at: Date.now() };
        measuring = undefined;
        return bytes;
      });
    return measuring;
  };
  ctx.metrics.measureStoreWith(sizeBytes);

  const once = async (now?: number): Promise<RetentionCounts> => {
    if (!enabled) return emptyCounts();
    const counts = await runRetention(store, cfg, { now, running: () => !stopped });
    if (counts.batches > 0) {
      await reclaimSpace(store, () => sleep(cfg.pauseMs));
      size = undefined;
      log.info(
        `retention: ${counts.callsDeleted} calls deleted, ${counts.bodiesExpired} calls' bodies dropped in ${counts.batches} batches`,
      );
    }
    return counts;
  };
  const run = (now?: number) => {
    running ??= once(now).finally(() => {
      running = undefined;
    });
    return running;
  };
  const tick = () => {
    if (stopped || running) return;
    run().catch((err: unknown) => {
      const reason = storeUnavailableReason(err);
      if (reason) log.warn(`retention: not run (${reason}); next try in ${cfg.intervalMs} ms`);
      else log.error(`retention: ${(err as Error).stack ?? String(err)}; next try in ${cfg.intervalMs} ms`);
    });
  };
  let timer: NodeJS.Timeout | undefined;
  if (enabled) {
    timer = setInterval(tick, cfg.intervalMs);
    timer.unref();
    // The first run waits for the start to settle (migrations, the recorder's replay), not for a whole interval.
    setTimeout(tick, Math.min(cfg.intervalMs, 5000)).unref();
  }
  return {
    run,
    sizeBytes,
    stop: async () => {
      stopped = true;
      if (timer) clearInterval(timer);
      await running?.catch(() => {});
    },
  };
}
