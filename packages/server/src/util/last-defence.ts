/**
 * The process's last line of defence, installed by `intersebd serve`: an exception nothing caught, or a
 * rejection nothing handled, is logged with its stack, counted in `intersebd_uncaught_errors_total`, and the
 * server keeps serving.
 *
 * Why not exit, as Node does by default: intersebd sits on the request path of someone else's service. An
 * uncaught error here comes from one request, one socket or one background task (each known cause is fixed
 * where it arises, and a test keeps it fixed), while exiting fails every request in flight, every stream, and
 * the captured calls still queued in memory. State shared across requests lives in the store, the recorder's
 * queue and its spool files, none of which an error in one handler leaves half-written. So the error is made
 * loud (an error line and a counter to alert on) and the service stays up. A supervisor still restarts the
 * process on what no handler can catch (out of memory, SIGKILL), and the spool and journal cover that.
 */
import type { Logger } from "./log.ts";

export type UncaughtKind = "exception" | "rejection";

export interface LastDefenceOptions {
  log: Logger;
  uncaughtErrors: { inc(labels: { kind: UncaughtKind }): void };
}

/** The handler for both events; exported to be tested without a process to break. */
export function lastDefence(opts: LastDefenceOptions): (err: unknown, kind: UncaughtKind) => void {
  let handling = false;
  return (err, kind) => {
    // Counting first: it cannot fail, and the count is what an alert reads even if logging fails.
    opts.uncaughtErrors.inc({ kind });
    // An error thrown while logging one (stderr closed) must not loop through here.
    if (handling) return;
    handling = true;
    try {
      const detail = err instanceof Error ? (err.stack ?? `${err.name}: ${err.message}`) : String(err);
      opts.log.error(
        `uncaught ${kind === "exception" ? "exception" : "promise rejection"} (a bug; the server keeps serving): ${detail}`,
      );
    } catch {
      // Nowhere left to report it; the counter has it.
    } finally {
      handling = false;
    }
  };
}

/**
 * Installs the handler on `proc` (the process), and makes a failing stdout or stderr quiet; returns a function
 * that removes both.
 *
 * Why the streams: when whatever reads our output goes away (`intersebd serve | head`, a log collector that
 * died), every write fails with EPIPE, emitted later as the stream's `error`. Unhandled, that is an uncaught
 * exception, whose log line is one more failing write: the process spun on its own errors and never got to
 * SIGTERM. With a listener the errors end there; the server keeps serving without its log (the metrics count on).
 */
export function installLastDefence(
  opts: LastDefenceOptions,
  proc: Pick<NodeJS.Process, "on" | "off"> = process,
  streams: ReadonlyArray<Pick<NodeJS.WriteStream, "on" | "off">> = [process.stdout, process.stderr],
): () => void {
  const handle = lastDefence(opts);
  const onException = (err: unknown) => handle(err, "exception");
  const onRejection = (reason: unknown) => handle(reason, "rejection");
  const onStreamError = () => {};
  proc.on("uncaughtException", onException);
  proc.on("unhandledRejection", onRejection);
  for (const s of streams) s.on("error", onStreamError);
  return () => {
    proc.off("uncaughtException", onException);
    proc.off("unhandledRejection", onRejection);
    for (const s of streams) s.off("error", onStreamError);
  };
}
