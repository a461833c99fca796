/**
 * The writer thread's CPU class (INTERSEBD_WRITER_PRIORITY; util/thread-priority.ts): SCHED_IDLE by default, so its
 * batches never make a request wait, and replaced by a writer at the ordinary class when it falls behind.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import OpenAI from "openai";
import { loadConfig } from "./config/index.ts";
import {
  type FakeUpstream,
  freshDatabase,
  SERVER_BIN,
  startFakeUpstream,
  startupLine,
} from "./testing/index.ts";
import type { Logger } from "./util/log.ts";
import { SCHED_IDLE, SCHED_OTHER, threadPolicy } from "./util/thread-priority.ts";
import { startWriterThread, type WriterThread, writerSettings } from "./writer.ts";

const LINUX = process.platform === "linux";
if (!LINUX) console.warn("SKIPPED: the writer thread's CPU class is Linux's SCHED_IDLE; this is not Linux");

/** Every thread of a process by name (/proc comm), with its scheduling policy. */
function threadsOf(pid: number): Array<{ name: string; policy: number }> {
  return fs.readdirSync(`/proc/${pid}/task`).flatMap((tid) => {
    try {
      const name = fs.readFileSync(`/proc/${pid}/task/${tid}/comm`, "utf8").trim();
      return [{ name, policy: threadPolicy(tid, pid) }];
    } catch {
      return []; // a thread that ended while listed
    }
  });
}

/** A logger that keeps its lines. */
function keptLog(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const at = (level: string) => (msg: string) => lines.push(`${level} ${msg}`);
  const log = {
    lines,
    error: at("error"),
    warn: at("warn"),
    info: at("info"),
    debug: at("debug"),
    child: () => log,
  };
  return log;
}

async function writerOn(priority: "idle" | "normal", log: Logger) {
  const fresh = await freshDatabase("sqlite");
  const config = loadConfig({
    INTERSEBD_DB: fresh.db,
    INTERSEBD_DATA_DIR: fresh.dataDir,
    INTERSEBD_WRITER_PRIORITY: priority,
  });
  const thread = await startWriterThread(writerSettings(config, `${process.pid}-${Date.now()}`), log);
  return { thread, fresh };
}

/** Asks the writer to flush and waits for its answer: the thread that runs now works. */
function flushed(thread: WriterThread): Promise<void> {
  return new Promise((resolve, reject) => {
    const id = 424242;
    thread.channel.onMessage((msg) => {
      const reply = msg as { t: string; id?: number; error?: { message: string } };
      if (reply.t !== "reply" || reply.id !== id) return;
      if (reply.error) reject(new Error(reply.error.message));
      else resolve();
    });
    thread.channel.post({ t: "flush", id });
  });
}

/** Waits until `check()` holds (polling), or fails naming `what`. */
async function until(check: () => boolean, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("the writer thread's CPU class", { skip: !LINUX, timeout: 60_000 }, () => {
  it("starts at the ordinary class and moves into SCHED_IDLE after a calm; stays ordinary with INTERSEBD_WRITER_PRIORITY=normal", async () => {
    for (const priority of ["idle", "normal"] as const) {
      const log = keptLog();
      const { thread, fresh } = await writerOn(priority, log);
      try {
        assert.ok(thread.tid, "the thread says which it is");
        assert.equal(threadPolicy(thread.tid), SCHED_OTHER, `${priority}: ordinary at start`);
        let age = 300; // a call waits: no calm
        thread.watchBacklog(() => age, { firstCalmMs: 400 });
        await new Promise((r) => setTimeout(r, 700));
        assert.equal(thread.idle, false, `${priority}: no calm, no idling`);
        age = 0;
        if (priority === "idle") await until(() => thread.idle, "the writer to idle");
        else await new Promise((r) => setTimeout(r, 700));
        const policy = priority === "idle" ? SCHED_IDLE : SCHED_OTHER;
        assert.equal(threadPolicy(thread.tid), policy, `${priority}: the same thread's policy in /proc`);
        assert.deepEqual(
          log.lines.filter((l) => !l.startsWith("debug")),
          [],
          "nothing to report",
        );
        await flushed(thread);
      } finally {
        await thread.stop();
        await fresh.drop();
      }
    }
  });

  it("is replaced by a writer at the ordinary class once its oldest call waits too long, which idles again after a calm", async () => {
    const log = keptLog();
    const { thread, fresh } = await writerOn("idle", log);
    try {
      let onRestart = () => {};
      thread.onRestart(() => onRestart());
      const restarted = new Promise<void>((resolve) => (onRestart = resolve));
      let age = 0;
      thread.watchBacklog(() => age, { starvedAfterMs: 200, firstCalmMs: 100, calmMs: 1500 });
      await until(() => thread.idle, "the writer to idle");
      const idleTid = thread.tid as string;
      assert.equal(threadPolicy(idleTid), SCHED_IDLE);
      // Below the bound nothing happens.
      age = 150;
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(thread.tid, idleTid, "a backlog under the bound keeps the thread");
      age = 5000;
      await restarted;
      assert.notEqual(thread.tid, idleTid, "another thread took over");
      assert.equal(threadPolicy(thread.tid as string), SCHED_OTHER);
      assert.equal(thread.idle, false);
      const warned = log.lines.filter((l) => l.startsWith("warn"));
      assert.equal(warned.length, 1, log.lines.join("\n"));
      assert.match(
        warned[0] as string,
        /left calls unstored for 5\.0 s.*normal priority takes over for at least 2 s/,
      );
      assert.ok(!log.lines.some((l) => l.startsWith("error")), "the replacement is not reported as a crash");
      await flushed(thread);
      // Calls wait again now and then (≥ 250 ms): no calm yet, the ordinary class stays.
      const normalTid = thread.tid as string;
      age = 300;
      await new Promise((r) => setTimeout(r, 1800));
      assert.equal(thread.idle, false, "no idling while calls wait");
      // Then none waits for the calm period: the same thread moves into SCHED_IDLE, and works.
      age = 0;
      await until(() => thread.idle, "the replacement to idle");
      assert.equal(thread.tid, normalTid, "no restart to idle");
      assert.equal(threadPolicy(normalTid), SCHED_IDLE);
      assert.match(
        log.lines.at(-1) as string,
        /^info calls were stored without delay for 2 s: the writer moves to idle/,
      );
      await flushed(thread);
    } finally {
      await thread.stop();
      await fresh.drop();
    }
  });
});

describe("stopping the writer while it is replaced", { skip: !LINUX, timeout: 30_000 }, () => {
  it("returns, and starts no thread after: what was not stored stays in the journal", async () => {
    const log = keptLog();
    const { thread, fresh } = await writerOn("idle", log);
    try {
      const restarted = new Promise<string>((resolve) => thread.onRestart(() => resolve("restarted")));
      // Calm until it idles, then starved at once.
      thread.watchBacklog(() => (thread.idle ? 60_000 : 0), { starvedAfterMs: 20, firstCalmMs: 20 });
      await until(() => thread.idle, "the writer to idle");
      // The old thread is being terminated (or has just ended); the successor starts 200 ms after its end.
      await new Promise((r) => setTimeout(r, 60));
      await thread.stop();
      const outcome = await Promise.race([restarted, new Promise((r) => setTimeout(() => r("none"), 600))]);
      assert.equal(outcome, "none", "no writer started after the stop");
      assert.match(log.lines.join("\n"), /takes over/, "it was being replaced");
    } finally {
      await fresh.drop();
    }
  });
});

describe("the writer thread of the bin as a process runs it", { skip: !LINUX, timeout: 90_000 }, () => {
  let fake: FakeUpstream;
  const children: ChildProcess[] = [];
  before(async () => {
    fake = await startFakeUpstream({ keepRequests: false });
  });
  after(async () => {
    for (const child of children) child.kill("SIGKILL");
    await fake.close();
  });

  /** `intersebd serve` as installed, through `prefix` (taskset...), with its stderr kept. */
  async function serve(prefix: string[], dataDir: string, db: string) {
    const args = [SERVER_BIN, "serve", "--port", "0", "--db", db, "--data-dir", dataDir, "-u", fake.url];
    const [command, ...rest] = [...prefix, ...args] as [string, ...string[]];
    const child = spawn(command, rest, {
      env: {
        ...process.env,
        PATH: `${path.dirname(process.execPath)}${path.delimiter}${process.env.PATH}`,
        INTERSEBD_LOG_LEVEL: "info",
      },
    });
    children.push(child);
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    const { base } = await startupLine(child);
    return { child, base, stderr: () => stderr };
  }

  it("idles only the writer: the loop, V8's helpers and libuv's thread pool keep the ordinary class", async () => {
    const fresh = await freshDatabase("sqlite");
    try {
      const { child } = await serve([], fresh.dataDir, fresh.db);
      // The writer moves into SCHED_IDLE once calls have been stored without delay for a while (5 s).
      const writerIdle = () =>
        threadsOf(child.pid as number).some((t) => t.name === "WorkerThread" && t.policy === SCHED_IDLE);
      await until(writerIdle, "the writer to idle", 20_000);
      const threads = threadsOf(child.pid as number);
      const policies = (name: string) => threads.filter((t) => t.name === name).map((t) => t.policy);
      assert.deepEqual(policies("WorkerThread"), [SCHED_IDLE], "one writer thread, idle");
      assert.deepEqual(policies("MainThread"), [SCHED_OTHER]);
      // libuv makes its pool on first use, from whichever thread: the writer makes it before it idles.
      const pool = policies("libuv-worker");
      assert.ok(pool.length > 0, `libuv's pool exists: ${JSON.stringify(threads)}`);
      assert.ok(
        pool.every((p) => p === SCHED_OTHER),
        `pool ${pool}`,
      );
      assert.ok(
        threads.filter((t) => t.name !== "WorkerThread").every((t) => t.policy === SCHED_OTHER),
        JSON.stringify(threads),
      );
      child.kill("SIGTERM");
    } finally {
      await fresh.drop();
    }
  });

  it("loses nothing when every core is busy: starved on a core given to busy loops, the writer is replaced and stores every call", async () => {
    const fresh = await freshDatabase("sqlite");
    // The server and three busy loops on core 0 alone: an idle thread there runs only when they let it, which
    // they never do, so its calls wait until the writer at the ordinary class takes over.
    const pin = ["taskset", "--cpu-list", "0"];
    const hogs = Array.from({ length: 3 }, () => {
      const hog = spawn(pin[0] as string, [...pin.slice(1), process.execPath, "-e", "for(;;){}"]);
      children.push(hog);
      return hog;
    });
    try {
      const server = await serve(pin, fresh.dataDir, fresh.db);
      // Nothing sent yet, so nothing waits: after its first calm the writer idles, and only then starves.
      const writers = () => threadsOf(server.child.pid as number).filter((t) => t.name === "WorkerThread");
      await until(() => writers().some((t) => t.policy === SCHED_IDLE), "the writer to idle", 30_000);
      const client = new OpenAI({ baseURL: `${server.base}/v1`, apiKey: "sk-test", timeout: 30_000 });
      const count = 8;
      for (let i = 0; i < count; i++)
        await client.chat.completions.create({
          model: "gpt-4o-mini",
          messages: [{ role: "user", content: `starved ${i}` }],
        });
      const stored = async () => {
        const text = await (await fetch(`${server.base}/metrics`)).text();
        return Number(/^intersebd_stored_calls_total (\d+)/m.exec(text)?.[1] ?? 0);
      };
      const deadline = Date.now() + 40_000;
      while ((await stored()) < count && Date.now() < deadline) await new Promise((r) => setTimeout(r, 250));
      assert.equal(await stored(), count, `every answered call is stored; stderr:\n${server.stderr()}`);
      assert.match(server.stderr(), /a writer at normal priority takes over/);
      assert.deepEqual(
        writers().map((t) => t.policy),
        [SCHED_OTHER],
        "the writer now runs at the ordinary class",
      );
      assert.doesNotMatch(server.stderr(), /dropped|writer thread exited/);
    } finally {
      for (const hog of hogs) hog.kill("SIGKILL");
      await fresh.drop();
    }
  });
});
