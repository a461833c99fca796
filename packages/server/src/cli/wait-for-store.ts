/**
 * `serve` retries a database it cannot reach at start. Services started together (a compose file, a systemd
 * unit ordered after PostgreSQL, a Kubernetes pod) often come up before the database accepts connections, and
 * not every tool waits for a healthcheck (podman-compose ignores `depends_on` conditions): exiting at once would
 * leave the service down, or restarting in a loop with nothing in the log that says why.
 */
import type { Config } from "../config/index.ts";
import { storeUnavailableReason } from "../store/index.ts";

export interface WaitOptions {
  /** How long to keep retrying, seconds; 0 tries once. */
  waitSeconds: number;
  /** Where the "waiting for the database" lines go (stderr in `serve`). */
  write: (line: string) => void;
  /** First delay between attempts, ms; it doubles up to `maxDelayMs`. */
  firstDelayMs?: number;
  maxDelayMs?: number;
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
}

/** Where the database is, for a log line: host, port and database name, never the credentials. */
export function describeDatabase(db: Config["db"]): string {
  if (db.kind === "sqlite") return db.file;
  try {
    const u = new URL(db.url);
    return `${u.host || "localhost"}${u.pathname}`;
  } catch {
    return "DATABASE_URL";
  }
}

/**
 * Runs `start` until it succeeds, retrying with back-off while it fails because the store is unreachable
 * (`storeUnavailableReason`) and `waitSeconds` have not passed. Any other error, or the last one past the
 * deadline, is thrown as it is.
 */
export async function startWhenStoreAnswers<T>(
  start: () => Promise<T>,
  db: Config["db"],
  opts: WaitOptions,
): Promise<T> {
  const now = opts.now ?? Date.now;
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const maxDelay = opts.maxDelayMs ?? 5000;
  const deadline = now() + opts.waitSeconds * 1000;
  let delay = opts.firstDelayMs ?? 500;
  const where = describeDatabase(db);
  for (let attempt = 1; ; attempt++) {
    try {
      const started = await start();
      if (attempt > 1) opts.write(`intersebd: the database at ${where} answered (attempt ${attempt})\n`);
      return started;
    } catch (err) {
      const reason = storeUnavailableReason(err);
      const left = deadline - now();
      if (!reason || left <= 0) throw err;
      const wait = Math.min(delay, left);
      opts.write(
        `intersebd: waiting for the database at ${where} (${reason}); retrying in ${(wait / 1000).toFixed(1)} s, ` +
          `for ${Math.ceil(left / 1000)} s more (INTERSEBD_DB_WAIT_SECONDS)\n`,
      );
      await sleep(wait);
      delay = Math.min(delay * 2, maxDelay);
    }
  }
}
