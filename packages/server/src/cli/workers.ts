/**
 * `serve --workers N` (README, "Several cores"): N server processes on one port (node:cluster; the primary
 * accepts connections and hands each to a worker in turn). The primary applies the migrations once, before it
 * forks, and then serves no request itself.
 *
 * - PostgreSQL: every worker writes its own calls, as separate instances do (issue 14 item 5).
 * - SQLite has one writer: the primary. A worker journals each call as a single server does (the answered
 *   journal, calls/journal.ts, one file set per worker) and sends the line over its IPC channel; the primary's
 *   writer (writer.ts) stores it and answers, and only then does the worker release the line. A worker that dies
 *   loses nothing it answered: the primary replays the dead worker's journal (`adopt`) and forks another.
 * - Background workers (evaluations, live evaluators, webhooks, alerts, retention) run in every worker: each
 *   claims its jobs under a lease in the store, as several instances do.
 * - SIGTERM or SIGINT to the primary drains every worker (each finishes its requests and hands over its calls),
 *   then the primary's writer, then it exits.
 */
import cluster, { type Worker } from "node:cluster";
import os from "node:os";
import { InvalidArgumentError } from "commander";
import type { Channel, FromWriter } from "../calls/index.ts";
import type { Config } from "../config/index.ts";
import { serveClusterMetrics } from "../metrics/index.ts";
import { openStore } from "../store/index.ts";
import type { Logger } from "../util/log.ts";
import { openWriter, type ToWriterHost, type Writer, writerSettings } from "../writer.ts";

/** `--workers` / INTERSEBD_WORKERS: a count, or `auto` for the cores this process may use. */
export function parseWorkers(value: string): number {
  if (value === "auto") return os.availableParallelism();
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 1024)
    throw new InvalidArgumentError("expected a number of workers (1 or more) or auto");
  return n;
}

/**
 * A worker that exits before it listened, or within RESTART_STABLE_MS of it, is replaced after RESTART_BACKOFF_MS,
 * doubled for each such exit in a row up to RESTART_BACKOFF_MAX_MS (a crash loop must not fork as fast as it can);
 * the count starts again once no worker has exited that way for twice the longest wait.
 */
const RESTART_BACKOFF_MS = 250;
const RESTART_BACKOFF_MAX_MS = 30_000;
const RESTART_STABLE_MS = 10_000;

/**
 * V8's serializer for the workers' IPC (below) where Node reads its frames right: before nodejs/node#56106 a frame
 * whose 4-byte length arrived split across two reads stopped the channel for good, which a busy primary would meet
 * sooner or later. Node 24, which the project pins, has the fix; older runtimes keep the default JSON encoding.
 */
const ADVANCED_IPC = Number(process.versions.node.split(".")[0]) >= 24;

/** What a worker tells the primary once it listens. */
export interface Listening {
  t: "listening";
  url: string;
  /** The store's description (startup line) and dialect. */
  store: string;
  dialect: string;
}

/** The worker's end of its channel to the primary's writer (SQLite), through the cluster's IPC. */
export function primaryChannel(): Channel<ToWriterHost> {
  return {
    post: (msg) => {
      if (process.connected) process.send?.(msg);
    },
    onMessage: (fn) => process.on("message", (msg: { t: string }) => fn(msg)),
  };
}

/** The primary's end of one worker's channel. */
function workerChannel(worker: Worker): Channel<FromWriter> {
  return {
    post: (msg) => {
      if (worker.isConnected()) worker.send(msg);
    },
    onMessage: (fn) => worker.on("message", (msg: { t: string }) => fn(msg)),
  };
}

/**
 * Runs the primary: migrations (and on SQLite the writer), N workers kept at N, `onListening` once all of them
 * listen, and a drain of all of them on SIGTERM/SIGINT (`stop`, resolved once everything is written).
 */
export async function runPrimary(
  config: Config,
  count: number,
  log: Logger,
  onListening: (first: Listening, pids: number[]) => void,
): Promise<{ stop(): Promise<void> }> {
  let writer: Writer | undefined;
  const workers = new Set<Worker>();
  if (config.db.kind === "sqlite") {
    // The writer's counters go to one worker's /metrics (each worker answers /metrics for itself).
    writer = await openWriter(writerSettings(config), log, (msg) => {
      for (const w of workers) if (w.isConnected()) return void w.send(msg);
    });
  } else {
    // Migrations once, here, before any worker opens the store.
    await (await openStore(config.db)).close();
  }
  // A scrape of /metrics reaches one worker, which asks here for every worker's figures (metrics/cluster.ts).
  const clusterMetrics = serveClusterMetrics();
  let stopping = false;
  /** When each worker that listens began to (performance.now()), by worker id. */
  const listening = new Map<number, number>();
  let announced = false;
  /** Workers in a row that exited before they listened or soon after, and when the last one did. */
  let quickExits = 0;
  let lastQuickExit = Number.NEGATIVE_INFINITY;
  // Workers send the primary's writer each call as a JSON line. With node:cluster's default ("json") every
  // message is JSON-encoded again on the way, escaping each quote of those lines, and parsed again in the primary:
  // 5 µs per call of 1.6 KB, 215 µs per call of 44 KB (a long conversation). V8's serializer ("advanced") copies
  // the string: 0.7 and 35 µs. Through `serve --workers 2` on two shared cores, calls of 11 KB (a 22 KB row), four
  // interleaved pairs of runs at c=50: 938-991 against 1,007-1,095 µs of CPU per request over the whole tree.
  if (ADVANCED_IPC) cluster.setupPrimary({ serialization: "advanced" });
  const fork = () => {
    const worker = cluster.fork({ INTERSEBD_WORKER: "1" });
    workers.add(worker);
    if (writer) writer.serve(workerChannel(worker));
    worker.on("message", (msg: { t: string }) => {
      clusterMetrics(worker, msg);
      if (msg.t !== "listening") return;
      listening.set(worker.id, performance.now());
      if (!announced && listening.size === count) {
        announced = true;
        onListening(
          msg as Listening,
          [...workers].map((w) => w.process.pid as number),
        );
      }
    });
    // A fork the system refuses (EAGAIN, ENOMEM) is an 'error' and then an 'exit': logged here, retried there.
    worker.on("error", (err) =>
      log.error(`worker ${worker.process.pid ?? "?"}: ${err.message}`, { component: "serve" }),
    );
    worker.on("exit", (code, signal) => {
      const listenedAt = listening.get(worker.id);
      listening.delete(worker.id);
      workers.delete(worker);
      if (stopping) return;
      if (listenedAt === undefined && !announced) {
        // It could not start (the port is taken, the store refuses): another would fail the same way, forever.
        // It said why on stderr; the others are stopped and the primary exits, as a single server would.
        log.error(`worker ${worker.process.pid} exited (${signal ?? code}) before it listened; stopping`, {
          component: "serve",
        });
        void stop().then(() => process.exit(1));
        return;
      }
      // Its journal holds what it answered and had not seen stored: the writer replays it now.
      writer?.recorder.adoptOrphans();
      const why = `worker ${worker.process.pid} exited (${signal ?? code})`;
      const now = performance.now();
      if (listenedAt !== undefined && now - listenedAt >= RESTART_STABLE_MS) {
        log.error(`${why}; starting another`, { component: "serve" });
        fork();
        return;
      }
      // A replacement died during its start (a store busy with the dead one's calls, a machine out of memory), or
      // a worker soon after it: stopping every worker would take the service down for one, and forking again at
      // once could loop as fast as the machine forks. It is tried again, later each time, for as long as it takes.
      if (now - lastQuickExit > 2 * RESTART_BACKOFF_MAX_MS) quickExits = 0;
      lastQuickExit = now;
      const delay = Math.min(RESTART_BACKOFF_MAX_MS, RESTART_BACKOFF_MS * 2 ** quickExits++);
      const when =
        listenedAt === undefined
          ? "before it listened"
          : `${Math.round(now - listenedAt)} ms after it listened`;
      log.error(`${why} ${when}; starting another in ${delay} ms`, { component: "serve" });
      setTimeout(() => {
        if (!stopping) fork();
      }, delay);
    });
  };
  let stopped: Promise<void> | undefined;
  const stop = () => (stopped ??= drain());
  const drain = async () => {
    stopping = true;
    // Each worker drains itself (serve's SIGTERM handler); the IPC channels stay open for its last calls.
    await Promise.all(
      [...workers].map(
        (w) =>
          new Promise<void>((resolve) => {
            w.once("exit", () => resolve());
            if (w.process.pid) process.kill(w.process.pid, "SIGTERM");
          }),
      ),
    );
    await writer?.close();
  };
  for (let i = 0; i < count; i++) fork();
  return { stop };
}
