/**
 * Webhook delivery of notifications, signed as the Standard Webhooks specification says
 * (https://www.standardwebhooks.com/, "Signature scheme"): headers `webhook-id`, `webhook-timestamp` (unix
 * seconds) and `webhook-signature: v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`, keyed with the
 * base64-decoded bytes after `whsec_`.
 *
 * Jobs are rows in `webhook_jobs`, so any instance can deliver them and none is lost on restart. A worker claims
 * due jobs with a lease (`locked_until`): on PostgreSQL with `SELECT … FOR UPDATE SKIP LOCKED`, on SQLite with
 * an atomic conditional UPDATE. The outcome is recorded on the claimed row only if the claim still holds.
 * Delivery is at least once: a crash between the POST and recording it makes another attempt, after the lease,
 * with the same `webhook-id` (which the specification asks receivers to deduplicate on). A graceful stop waits
 * for the attempts in flight and records them, so a restart alone repeats nothing.
 */
import { createHmac } from "node:crypto";
import { OutageLog, type Store, storeUnavailableReason } from "../store/index.ts";
import { newId } from "../util/ids.ts";
import type { Logger } from "../util/log.ts";

export interface WebhookOptions {
  /**
   * Where jobs without their own URL (notifications') go; undefined: this worker takes only jobs that carry a
   * URL (alerts' webhooks, when no notification webhook is configured).
   */
  url: string | undefined;
  /** `whsec_<base64>`; without it requests are sent unsigned. */
  secret?: string;
  retryBaseMs: number;
  maxAttempts: number;
  /** How long one POST may take, ms. */
  timeoutMs?: number;
  /** How often to look for due jobs (other instances' and retries), ms. */
  pollMs?: number;
}

/**
 * The `webhook-signature` value for one message.
 * @example sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, '{"test": 2432232314}')
 * // "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
 */
export function sign(secret: string, id: string, timestamp: number, body: string): string {
  const key = Buffer.from(secret.replace(/^whsec_/, ""), "base64");
  return `v1,${createHmac("sha256", key).update(`${id}.${timestamp}.${body}`).digest("base64")}`;
}

/** Delay before attempt `attempt + 1`, after `attempt` failures: exponential, capped, with ±20% jitter. */
export function retryDelay(baseMs: number, attempt: number): number {
  const raw = Math.min(6 * 3600_000, baseMs * 4 ** Math.max(0, attempt - 1));
  return Math.round(raw * (0.8 + Math.random() * 0.4));
}

type Job = { id: string; notificationId: string; payload: string; attempts: number; url: string | null };

export interface WebhookWorker {
  /** A job was enqueued: look now instead of at the next poll. */
  enqueued(): void;
  /** Stops claiming, waits for the attempts in flight and records them. */
  stop(): Promise<void>;
}

const BATCH = 10;

/** Starts the delivery loop for one server instance. */
export function startWebhookWorker(store: Store, opts: WebhookOptions, log: Logger): WebhookWorker {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  // Long enough for a POST to finish and be recorded; after it, another instance may take the job over.
  const leaseMs = timeoutMs + 30_000;
  const pollMs = opts.pollMs ?? Math.min(1000, Math.max(20, opts.retryBaseMs));
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let again = false;
  // While the store is unreachable: one warn line per outage, and polls that back off (doubling, up to 30 s).
  const outage = new OutageLog("webhook delivery", log);
  let failedPolls = 0;

  const claimJobs = async (claim: string): Promise<Job[]> => {
    const now = Date.now();
    const candidates = (db: Store["db"]) =>
      db
        .selectFrom("webhookJobs")
        .select("id")
        .where("status", "=", "pending")
        .where("nextAttemptAt", "<=", now)
        .where((eb) => eb.or([eb("lockedUntil", "is", null), eb("lockedUntil", "<", now)]))
        .$if(opts.url === undefined, (q) => q.where("url", "is not", null))
        .orderBy("nextAttemptAt")
        .limit(BATCH);
    if (store.dialect.supportsSkipLocked) {
      // Rows another instance is claiming right now are skipped, not waited for.
      await store.db.transaction().execute(async (trx) => {
        const rows = await candidates(trx).forUpdate().skipLocked().execute();
        if (rows.length === 0) return;
        await trx
          .updateTable("webhookJobs")
          .set({ lockedUntil: now + leaseMs, lockedBy: claim })
          .where(
            "id",
            "in",
            rows.map((r) => r.id),
          )
          .execute();
      });
    } else {
      // One UPDATE per job, each succeeding only if the job is still free: at most one claimant wins.
      for (const { id } of await candidates(store.db).execute()) {
        await store.db
          .updateTable("webhookJobs")
          .set({ lockedUntil: now + leaseMs, lockedBy: claim })
          .where("id", "=", id)
          .where("status", "=", "pending")
          .where((eb) => eb.or([eb("lockedUntil", "is", null), eb("lockedUntil", "<", now)]))
          .execute();
      }
    }
    return store.db
      .selectFrom("webhookJobs")
      .select(["id", "notificationId", "payload", "attempts", "url"])
      .where("lockedBy", "=", claim)
      .where("status", "=", "pending")
      .execute();
  };

  const record = async (
    job: Job,
    claim: string,
    outcome: { ok: true } | { ok: false; error: string; final?: boolean },
  ) => {
    const now = Date.now();
    const attempts = job.attempts + 1;
    const set = outcome.ok
      ? { status: "delivered", deliveredAt: now, lastError: null }
      : outcome.final || attempts >= opts.maxAttempts
        ? { status: "failed", lastError: outcome.error }
        : { lastError: outcome.error, nextAttemptAt: now + retryDelay(opts.retryBaseMs, attempts) };
    const r = await store.db
      .updateTable("webhookJobs")
      .set({ ...set, attempts, lockedUntil: null, lockedBy: null })
      .where("id", "=", job.id)
      .where("lockedBy", "=", claim)
      .executeTakeFirst();
    if (Number(r.numUpdatedRows) === 0) {
      log.warn(`webhook ${job.id}: the claim expired before the attempt was recorded; it may be sent again`);
    }
  };

  const deliver = async (job: Job, claim: string) => {
    // A job with its own URL (an alert's) belongs to no notification.
    const n =
      job.url === null
        ? await store.db
            .selectFrom("notifications")
            .select("status")
            .where("id", "=", job.notificationId)
            .executeTakeFirst()
        : { status: "alert" };
    if (!n || n.status === "revoked") {
      await record(job, claim, { ok: false, error: "not sent: the notification was revoked", final: true });
      return;
    }
    const url = job.url ?? opts.url;
    if (url === undefined) {
      await record(job, claim, { ok: false, error: "not sent: no INTERSEBD_WEBHOOK_URL", final: true });
      return;
    }
    const timestamp = Math.floor(Date.now() / 1000);
    const headers: Record<string, string> = {
      "content-type": "application/json",
      "user-agent": "intersebd-webhooks",
      "webhook-id": job.id,
      "webhook-timestamp": String(timestamp),
    };
    if (opts.secret) headers["webhook-signature"] = sign(opts.secret, job.id, timestamp, job.payload);
    let outcome: { ok: true } | { ok: false; error: string };
    try {
      const res = await fetch(url, {
        method: "POST",
        headers,
        body: job.payload,
        redirect: "manual",
        signal: AbortSignal.timeout(timeoutMs),
      });
      const text = await res.text().catch(() => "");
      outcome =
        res.status >= 200 && res.status < 300
          ? { ok: true }
          : { ok: false, error: `HTTP ${res.status}${text ? `: ${text.slice(0, 200)}` : ""}` };
    } catch (err) {
      const e = err as Error & { cause?: { code?: string; message?: string } };
      outcome = {
        ok: false,
        error:
          e.name === "TimeoutError" ? `no answer within ${timeoutMs} ms` : (e.cause?.message ?? e.message),
      };
    }
    if (!outcome.ok) log.warn(`webhook ${job.id} attempt ${job.attempts + 1}: ${outcome.error}`);
    await record(job, claim, outcome);
  };

  const tick = async () => {
    for (;;) {
      again = false;
      const claim = newId("clm");
      const jobs = await claimJobs(claim);
      // Every attempt in flight settles before the loop reports a failure (stop() waits for them).
      const settled = await Promise.allSettled(jobs.map((j) => deliver(j, claim)));
      const failure = settled.find((r) => r.status === "rejected");
      if (failure) throw failure.reason;
      if (stopped || (jobs.length < BATCH && !again)) return;
    }
  };

  const schedule = (delay: number) => {
    if (stopped) return;
    clearTimeout(timer);
    timer = setTimeout(run, delay);
    timer.unref();
  };

  function run() {
    if (running) {
      again = true;
      return;
    }
    running = tick()
      .then(() => {
        failedPolls = 0;
        outage.succeeded();
      })
      .catch((err: unknown) => {
        const reason = storeUnavailableReason(err);
        if (reason) {
          failedPolls++;
          outage.failed(reason);
        } else log.error(`webhook delivery: ${(err as Error).stack ?? String(err)}`);
      })
      .finally(() => {
        running = undefined;
        if (failedPolls > 0) schedule(Math.min(30_000, Math.max(pollMs, 250) * 2 ** (failedPolls - 1)));
        else schedule(again ? 0 : pollMs);
      });
  }

  schedule(0);
  return {
    enqueued: () => schedule(0),
    stop: async () => {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
