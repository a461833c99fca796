/**
 * The writer of calls as the composition runs it (calls/writer.ts has the why): its store connection, the
 * `CallRecorder` with the insert hook, and the live evaluators' rules that hook reads. It runs in a worker thread
 * of the server (`startWriterThread`, SQLite) or in the primary process of `serve --workers N` on SQLite
 * (cli/workers.ts), which serves every worker's calls from one connection: SQLite has one writer.
 */
import fs from "node:fs";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import v8 from "node:v8";
import { type MessagePort, Worker } from "node:worker_threads";
// From the files, not the domains' doors: the thread loads only what writing calls needs (the doors pull in the
// routes, the HTTP layer and the workers), which halves the thread's start and its memory.
import { chainHooks, type InsertHook } from "./calls/insert.ts";
import { CallRecorder } from "./calls/recorder.ts";
import { type Channel, countsOut, type FromWriter, serveWriter, type ToWriter } from "./calls/writer.ts";
import type { Config } from "./config/index.ts";
import { continuationsOnInsert } from "./graph/continuations.ts";
import { resolutionOnInsert } from "./graph/resolve.ts";
import { LiveRules } from "./live/enqueue.ts";
import type { Evaluator } from "./live/schemas.ts";
import { type DialectName, openStore } from "./store/index.ts";
import { childLogger, type LogFields, type Logger, type LogLevel } from "./util/log.ts";
import { runWhenIdle, threadId } from "./util/thread-priority.ts";

/** What every insert of calls runs in its transaction: the graph's resolution, continuations, live enqueue. */
export function callInsertHook(dialect: DialectName, linkDepth: number, rules: LiveRules): InsertHook {
  return chainHooks(resolutionOnInsert(dialect, linkDepth), continuationsOnInsert(linkDepth), rules.hook());
}

/** What a writer needs of the configuration: plain data, as it crosses to a thread or another process. */
export interface WriterSettings {
  db: Config["db"];
  dataDir: string;
  queueMax: number;
  flushMs: number;
  batchSize: number;
  linkDepth: number;
  faultInject?: Config["faultInject"];
  /** The sender's answered journal (calls/writer.ts), never replayed by the writer; none for a primary. */
  journalInstance?: string;
  /** The writer thread's CPU class (INTERSEBD_WRITER_PRIORITY); a primary's writer runs at its process's. */
  priority: Config["writerPriority"];
}

export function writerSettings(config: Config, journalInstance?: string): WriterSettings {
  const { db, dataDir, queueMax, flushMs, batchSize, linkDepth, faultInject } = config;
  const priority = config.writerPriority;
  return { db, dataDir, queueMax, flushMs, batchSize, linkDepth, faultInject, journalInstance, priority };
}

/** Messages of the composition on the writer's channel, beside calls/writer.ts's. */
export type ToWriterHost =
  | ToWriter
  | { t: "rules"; rules: readonly Evaluator[] }
  | { t: "stop" }
  /** Move into SCHED_IDLE (answered by `idled`). */
  | { t: "idle" };
type FromWriterHost =
  | FromWriter
  | { t: "ready"; tid?: string }
  /** `notIdle`: why the thread stays at the ordinary CPU class. */
  | { t: "idled"; idle: boolean; notIdle?: string }
  | { t: "stopped" }
  | { t: "log"; level: Exclude<LogLevel, "silent">; msg: string; fields?: LogFields };

/** How often the writer checkpoints the WAL when its own commits have not (traffic through the API only). */
const CHECKPOINT_MS = 1000;

export interface Writer {
  recorder: CallRecorder;
  rules: LiveRules;
  /** Serves one sender: its calls, and the rules its `LiveRules` refreshed. */
  serve(channel: Channel<FromWriter>): void;
  close(): Promise<void>;
}

/** Opens the writer's store connection and recorder; replays what dead processes left before it returns. */
export async function openWriter(settings: WriterSettings, log: Logger, report: (msg: FromWriter) => void) {
  const store = await openStore(settings.db);
  const rules = new LiveRules(store, childLogger(log, { component: "live" }));
  const counts = countsOut(report);
  const recorder = new CallRecorder(
    store,
    {
      spoolDir: path.join(settings.dataDir, "spool"),
      rejectedDir: settings.dataDir,
      queueMax: settings.queueMax,
      flushMs: settings.flushMs,
      batchSize: settings.batchSize,
      insertHook: callInsertHook(store.dialect.name, settings.linkDepth, rules),
      faultInject: settings.faultInject,
      journalInstance: settings.journalInstance,
    },
    counts,
    childLogger(log, { component: "recorder" }),
  );
  await recorder.start();
  // The writer's commits checkpoint the WAL as they go (SQLite's autocheckpoint, on this connection); writes
  // through the API, whose connection leaves checkpoints here (Store.yieldToWriter), are covered by this.
  const checkpoints = setInterval(() => {
    store
      .checkpoint()
      .catch((err: unknown) => log.warn(`checkpoint: ${String(err)}`, { component: "store" }));
  }, CHECKPOINT_MS);
  checkpoints.unref();
  const writer: Writer = {
    recorder,
    rules,
    serve: (channel) => {
      serveWriter(channel, recorder, counts, log);
      channel.onMessage((msg) => {
        if (msg.t === "rules") rules.replace((msg as Extract<ToWriterHost, { t: "rules" }>).rules);
      });
    },
    close: async () => {
      clearInterval(checkpoints);
      await recorder.close();
      await store.checkpoint().catch(() => {});
      await store.close();
    },
  };
  return writer;
}

/** A logger whose lines go to the thread's owner, which writes them with its own logger. */
function loggerTo(port: MessagePort): Logger {
  const at = (level: Exclude<LogLevel, "silent">) => (msg: string, fields?: LogFields) =>
    port.postMessage({ t: "log", level, msg, fields } satisfies FromWriterHost);
  const log: Logger = {
    error: at("error"),
    warn: at("warn"),
    info: at("info"),
    debug: at("debug"),
    child: (fields) => childLogger(log, fields),
  };
  return log;
}

/** The worker thread's body (writer-entry.ts starts it). */
export async function runWriterThread(settings: WriterSettings, port: MessagePort): Promise<void> {
  const log = loggerTo(port);
  // Threads inherit their creator's CPU class, and libuv makes its thread pool (the whole process's async file
  // system, DNS, zlib and crypto work) on its first use, from whichever thread that is: it is made now, while this
  // thread still runs at the ordinary class, or it would be idle too and the proxy's lookups would wait for it.
  await fs.promises.stat(settings.dataDir).catch(() => {});
  const channel: Channel<FromWriter> = {
    post: (msg) => port.postMessage(msg),
    onMessage: (fn) => port.on("message", fn),
  };
  const writer = await openWriter(settings, log, channel.post);
  writer.serve(channel);
  port.on("message", (msg: ToWriterHost) => {
    if (msg.t === "idle") {
      const notIdle = runWhenIdle();
      port.postMessage({
        t: "idled",
        idle: notIdle === null,
        notIdle: notIdle ?? undefined,
      } satisfies FromWriterHost);
    }
    if (msg.t !== "stop") return;
    void writer.close().then(() => {
      port.postMessage({ t: "stopped" } satisfies FromWriterHost);
      port.close();
    });
  });
  // At the ordinary class: the server waits for this start (and its replay of what dead processes left), and a
  // fresh thread's first batches run cold. The server moves it into SCHED_IDLE once calls are stored without delay.
  port.postMessage({ t: "ready", tid: threadId() } satisfies FromWriterHost);
}

export interface WriterThread {
  /** The proxy's side of the channel (WriterRecorder's). */
  channel: Channel<ToWriterHost>;
  /** Called after the thread died and a new one took over: the sender resends what was not done. */
  onRestart(fn: () => void): void;
  /** The current thread's kernel id (undefined without /proc), and whether it runs at SCHED_IDLE. */
  readonly tid: string | undefined;
  readonly idle: boolean;
  /**
   * With `priority: "idle"`: moves the writer into SCHED_IDLE once calls have been stored without delay for
   * `firstCalmMs`; replaces an idle writer by a new one, at the ordinary class, once `backlogAgeMs()` (how long the
   * oldest call sent to it has waited: WriterRecorder.oldestUnstoredMs) reaches `starvedAfterMs`; idles that one
   * after a calm of `calmMs`, doubled after each replacement.
   */
  watchBacklog(
    backlogAgeMs: () => number,
    bounds?: { starvedAfterMs?: number; firstCalmMs?: number; calmMs?: number },
  ): void;
  /** Drains and closes the writer, then ends the thread. */
  stop(): Promise<void>;
}

/**
 * What the thread runs: this module's `runWriterThread`, imported by a line of CommonJS given as the thread's code.
 * An entry file of TypeScript would be stripped of its types before the compile cache is on in the thread, which
 * loads the type stripper into the thread's memory for good (about 20 MB); the code below needs no stripping, and
 * the compile cache then serves every module the thread imports, compiled.
 */
const THREAD_CODE = `
const { parentPort, workerData } = require("node:worker_threads");
require("node:module").enableCompileCache?.();
import(${JSON.stringify(import.meta.url)}).then((m) => m.runWriterThread(workerData, parentPort));
`;
const SOURCE = import.meta.url.endsWith(".ts");
const EXEC_ARGV = SOURCE ? ["--conditions=intersebd-source"] : [];

/** The writer's young generation: its rows live from their batch's arrival to its commit (tens of ms), then die. */
const WRITER_YOUNG_MB = 4;

/**
 * Runs `start` (which makes a worker) with V8's `--max-semi-space-size` lifted until the worker is online. That
 * flag (the bin's shebang sets 8 MB for the proxy's loop) holds for every isolate of the process and overrides a
 * worker's `resourceLimits`, which gave the writer thread the proxy's 2 × 8 MB young generation: about 7 MB more
 * peak RSS at c=50 (interleaved runs, 173 -> 166 MB) for a thread that needs a fraction of it. V8 reads the flag
 * when it makes an isolate's heap: the proxy's heap, made long before, keeps its size.
 */
function withoutSemiSpaceFlag(start: () => Worker): Worker {
  const flag = process.execArgv.findLast((a) => /^--max[-_]semi[-_]space[-_]size=\d+$/.test(a));
  if (!flag) return start();
  v8.setFlagsFromString("--max-semi-space-size=0");
  let worker: Worker;
  try {
    worker = start();
  } catch (err) {
    v8.setFlagsFromString(flag);
    throw err;
  }
  const restore = () => v8.setFlagsFromString(flag);
  worker.once("online", restore).once("exit", restore);
  return worker;
}

/**
 * How long the oldest call handed to an idle writer may wait to be stored before the writer is replaced by one at
 * normal priority. A batch is stored within tens of ms wherever a core is free now and then; an idle thread waits
 * that long only while every core is busy with ordinary threads (other processes included), and would otherwise
 * wait for as long as that lasts, its calls piling up to INTERSEBD_QUEUE_MAX.
 */
export const WRITER_STARVED_MS = 3000;

/**
 * How long calls must be stored without delay (none waiting WRITER_BUSY_MS or more at any check) before the writer
 * moves into SCHED_IDLE: first after its start (its first batches run cold), then after a replacement, when a busy
 * hour must not cost the tail of the quiet ones after it. The second is doubled after each replacement, up to
 * WRITER_CALM_MAX_MS, so that a host busy on and off does not restart the writer every minute.
 */
export const WRITER_FIRST_CALM_MS = 5_000;
export const WRITER_CALM_MS = 60_000;
const WRITER_CALM_MAX_MS = 3_600_000;
const WRITER_BUSY_MS = 250;

/**
 * Starts the writer thread and waits until it has replayed what dead processes left. A thread that dies (a bug,
 * its heap limit) is replaced at once, and `onRestart` callbacks resend what it had not stored.
 */
export async function startWriterThread(settings: WriterSettings, log: Logger): Promise<WriterThread> {
  const listeners: Array<(msg: { t: string }) => void> = [];
  const restarts: Array<() => void> = [];
  const timers: NodeJS.Timeout[] = [];
  let stopping = false;
  /** Set while an idle thread is being replaced by a normal one: its exit is expected. */
  let replacing = false;
  let tid: string | undefined;
  let idle = false;
  /** Asked to idle, not answered yet; and whether it could not (no chrt, not Linux): then it is not asked again. */
  let idling = false;
  let cannotIdle = false;
  let worker: Worker;
  /** Whether `worker` has started (said "ready") and not ended: between a thread's end and its successor's start, none has. */
  let ready = false;
  const spawn = () =>
    new Promise<void>((resolve, reject) => {
      worker = withoutSemiSpaceFlag(
        () =>
          new Worker(THREAD_CODE, {
            eval: true,
            workerData: settings,
            execArgv: EXEC_ARGV,
            // The writer holds a batch or two and the statement cache: its heap stays small, and a leak there must
            // end the thread (which is replaced), not grow the process.
            resourceLimits: { maxOldGenerationSizeMb: 192, maxYoungGenerationSizeMb: WRITER_YOUNG_MB },
            stdout: false,
            stderr: false,
          }),
      );
      worker.on("message", (msg: FromWriterHost) => {
        if (msg.t === "ready") {
          ready = true;
          tid = msg.tid;
          idle = false;
          idling = false;
          resolve();
        } else if (msg.t === "idled") {
          idling = false;
          idle = msg.idle;
          if (msg.notIdle) {
            cannotIdle = true;
            log.info(`writer thread stays at normal CPU priority: ${msg.notIdle}`, { component: "recorder" });
          }
        } else if (msg.t === "log") log[msg.level](msg.msg, msg.fields);
        else for (const fn of listeners) fn(msg);
      });
      worker.on("error", (err) => {
        log.error(`writer thread failed: ${err.stack ?? String(err)}`, { component: "recorder" });
        reject(err);
      });
      worker.on("exit", (code) => {
        ready = false;
        if (stopping) return;
        if (replacing) replacing = false;
        else log.error(`writer thread exited (${code}); starting another`, { component: "recorder" });
        // After a short pause: a thread that cannot start at all must not spin.
        void sleep(200)
          .then(() => (stopping ? Promise.reject(new Error("stopped")) : spawn()))
          .then(
            () => {
              for (const fn of restarts) fn();
            },
            () => {},
          );
      });
    });
  await spawn();
  return {
    channel: {
      post: (msg) => worker.postMessage(msg),
      onMessage: (fn) => listeners.push(fn),
    },
    onRestart: (fn) => restarts.push(fn),
    get tid() {
      return tid;
    },
    get idle() {
      return idle;
    },
    watchBacklog: (backlogAgeMs, bounds = {}) => {
      if (settings.priority !== "idle") return;
      const starvedAfterMs = bounds.starvedAfterMs ?? WRITER_STARVED_MS;
      const calmMs = bounds.calmMs ?? WRITER_CALM_MS;
      let calmNeededMs = bounds.firstCalmMs ?? WRITER_FIRST_CALM_MS;
      let replacements = 0;
      let calmSince = Date.now();
      const timer = setInterval(
        () => {
          if (replacing || !ready) return;
          const age = backlogAgeMs();
          if (age >= WRITER_BUSY_MS) calmSince = Date.now();
          if (idle && age >= starvedAfterMs) {
            // An unprivileged thread cannot leave SCHED_IDLE: a new one, at the ordinary class of the thread that
            // starts it, takes over. Terminating rolls back the old one's open transaction (which frees SQLite's
            // lock); every call it had not stored is sent to the new one (onRestart), read back from the journal.
            calmNeededMs = Math.min(calmMs * 2 ** replacements++, WRITER_CALM_MAX_MS);
            log.warn(
              `the writer thread, at idle CPU priority, left calls unstored for ${(age / 1000).toFixed(1)} s ` +
                "(every core busy with other work); a writer at normal priority takes over " +
                `for at least ${Math.round(calmNeededMs / 1000)} s (INTERSEBD_WRITER_PRIORITY)`,
              { component: "recorder" },
            );
            calmSince = Date.now();
            replacing = true;
            void worker.terminate();
          } else if (!idle && !idling && !cannotIdle && Date.now() - calmSince >= calmNeededMs) {
            // A thread may always lower its own class: no restart this way.
            const level = replacements > 0 ? "info" : "debug";
            log[level](
              `calls were stored without delay for ${Math.round(calmNeededMs / 1000)} s: ` +
                "the writer moves to idle CPU priority",
              { component: "recorder" },
            );
            idling = true;
            worker.postMessage({ t: "idle" } satisfies ToWriterHost);
          }
        },
        Math.min(1000, starvedAfterMs / 2, calmNeededMs / 2),
      );
      timer.unref();
      timers.push(timer);
    },
    stop: async () => {
      stopping = true;
      for (const timer of timers) clearInterval(timer);
      // Stopped between a thread's end and its successor's start: what it had not stored stays in the answered
      // journal, which the next start replays.
      if (!ready) return;
      const stopped = new Promise<void>((resolve) => {
        listeners.push((msg) => {
          if (msg.t === "stopped") resolve();
        });
        worker.once("exit", () => resolve());
      });
      worker.postMessage({ t: "stop" } satisfies ToWriterHost);
      await stopped;
      await worker.terminate();
    },
  };
}
