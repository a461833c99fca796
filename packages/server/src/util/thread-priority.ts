/**
 * Linux's SCHED_IDLE class for a background thread: it runs on a core nothing else wants, and yields that core at
 * once to any ordinary thread that wakes up there.
 *
 * Why (README, "The writer runs when nothing else wants the core"): at c=1 the writer thread's batches (a few ms of SQLite work every
 * 20 ms) shared a core with the proxy's loop, the fake upstream or the load generator often enough that the woken
 * thread waited out the writer's time slice; p99 through intersebd was 2.5-3x the bare proxy's. A lower nice value
 * or SCHED_BATCH changed nothing measurable (the kernel still lets the running thread finish its slice); with
 * SCHED_IDLE the proxy's thread was preempted a third as often and p99 fell to 1.5-2x.
 *
 * Node has no call for a thread's scheduling class, so the thread asks util-linux's `chrt` (present wherever
 * util-linux is: every Debian and Ubuntu image, slim ones included) to set it on its own thread id.
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";

/** The id the kernel knows the calling thread by (its /proc/self/task entry); undefined without Linux's /proc. */
export function threadId(): string | undefined {
  try {
    // "/proc/thread-self" links to "<pid>/task/<tid>" of whichever thread reads it.
    return path.basename(fs.readlinkSync("/proc/thread-self"));
  } catch {
    return undefined;
  }
}

/**
 * Puts the calling thread in SCHED_IDLE. Returns null when it is, or why it is not (not Linux, no `chrt`, a
 * refusal): the thread then runs as before, at the ordinary class. An unprivileged thread cannot leave SCHED_IDLE
 * again (that needs CAP_SYS_NICE); a thread that must run at the ordinary class after all is replaced by a new one.
 */
export function runWhenIdle(): string | null {
  if (process.platform !== "linux") return `SCHED_IDLE is Linux's (this is ${process.platform})`;
  const tid = threadId();
  if (tid === undefined) return "cannot read /proc/thread-self";
  const r = spawnSync("chrt", ["--idle", "--pid", "0", tid], { encoding: "utf8", timeout: 5000 });
  if (r.error) {
    const code = (r.error as NodeJS.ErrnoException).code;
    return code === "ENOENT" ? "chrt is not installed (util-linux)" : `chrt failed: ${r.error.message}`;
  }
  if (r.status !== 0) return `chrt refused: ${r.stderr.trim() || `exit ${r.status}`}`;
  return null;
}

/** Scheduling policies as /proc reports them (`policy` in /proc/<pid>/task/<tid>/sched). */
export const SCHED_OTHER = 0;
export const SCHED_IDLE = 5;

/** The scheduling policy of a thread (of this process by default), from /proc (field 41 of its stat). */
export function threadPolicy(tid: string, pid: number | "self" = "self"): number {
  const stat = fs.readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8");
  // The fields after the name in parentheses (which may hold spaces) start at field 3.
  return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[38]);
}
