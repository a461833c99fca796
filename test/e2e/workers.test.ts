/**
 * `intersebd serve --workers 2` (issue 20; cli/workers.ts), started through its bin on SQLite and on PostgreSQL:
 * two processes answer on one port; every call is stored exactly once; a SIGKILLed worker loses no call it
 * answered (on SQLite the primary's writer replays its journal, on PostgreSQL the worker started in its place
 * does); SIGTERM to the primary drains every worker's queue before it exits.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import net from "node:net";
import { after, before, describe, it } from "node:test";
import {
  chatCompletionBody,
  DIALECTS,
  eventually,
  type FakeUpstream,
  freshDatabase,
  openStoreOn,
  postgresAvailable,
  SERVER_BIN,
  startFakeUpstream,
  startServeBin,
} from "../../packages/server/src/testing/index.ts";

/** One request over a fresh connection, so that the primary hands each to a worker in turn. */
function request(
  base: string,
  method: string,
  path: string,
  body?: string,
): Promise<{ status: number; text: string; callId?: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      new URL(path, base),
      { method, agent: false, headers: { "content-type": "application/json", connection: "close" } },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (d: string) => {
          text += d;
        });
        res.on("end", () => {
          const id = res.headers["x-intersebd-call-id"];
          resolve({ status: res.statusCode ?? 0, text, callId: typeof id === "string" ? id : undefined });
        });
        res.on("error", reject);
      },
    );
    // A connection that node:cluster's primary was handing to the worker at the moment it was killed is never
    // answered (nor closed): clients time out on it, as on any connection to a crashed server.
    req.setTimeout(10_000, () => req.destroy(new Error("no answer within 10 s")));
    req.on("error", reject);
    req.end(body);
  });
}

/** A chat completion; its call id when the answer arrived whole (the client has it), else undefined. */
async function answeredCall(base: string, text: string): Promise<string | undefined> {
  try {
    const r = await request(base, "POST", "/v1/chat/completions", chatCompletionBody(text, false));
    const whole =
      r.status === 200 && (JSON.parse(r.text) as { object?: string }).object === "chat.completion";
    return whole ? r.callId : undefined;
  } catch {
    return undefined;
  }
}

async function healthPid(base: string): Promise<number> {
  const r = await request(base, "GET", "/healthz");
  return (JSON.parse(r.text) as { pid: number }).pid;
}

/** The pids that answer on the port, asked until two distinct ones answered (or `tries` ran out). */
async function answeringPids(base: string, tries = 40): Promise<Set<number>> {
  const pids = new Set<number>();
  for (let i = 0; i < tries && pids.size < 2; i++) pids.add(await healthPid(base));
  return pids;
}

/** The primary's children (its workers), from /proc. */
function workerPids(primary: number): number[] {
  return fs
    .readFileSync(`/proc/${primary}/task/${primary}/children`, "utf8")
    .split(" ")
    .filter(Boolean)
    .map(Number);
}

function exited(child: ChildProcess): Promise<{ code: number | null; signal: string | null }> {
  return new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
}

/** The text of the first message of a stored call's request. */
async function storedPrompt(dialect: "sqlite" | "postgres", db: string, id: string): Promise<string> {
  const store = await openStoreOn(dialect, db);
  try {
    const row = await store.db
      .selectFrom("calls")
      .select("request")
      .where("id", "=", id)
      .executeTakeFirstOrThrow();
    return (
      (JSON.parse(row.request ?? "{}") as { messages: Array<{ content: string }> }).messages[0]?.content ?? ""
    );
  } finally {
    await store.close();
  }
}

/** Stored call ids, each as many times as it is stored. */
async function storedIds(dialect: "sqlite" | "postgres", db: string): Promise<string[]> {
  const store = await openStoreOn(dialect, db);
  try {
    return (await store.db.selectFrom("calls").select("id").execute()).map((r) => r.id);
  } finally {
    await store.close();
  }
}

describe("serve --workers 2", () => {
  let fake: FakeUpstream;
  before(async () => {
    fake = await startFakeUpstream({ keepRequests: false });
  });

  /**
   * `serve --workers 2` on a fresh database, logging errors only. Its stderr (the primary's and its workers')
   * goes into failures' messages: a worker that could not start says why there.
   */
  async function serveTwoWorkers(fresh: { db: string; dataDir: string }, env: Record<string, string> = {}) {
    let stderr = "";
    const started = await startServeBin(
      ["--workers", "2", "--port", "0", "--db", fresh.db, "--data-dir", fresh.dataDir, "-u", fake.url],
      {
        env: { INTERSEBD_LOG_LEVEL: "error", ...env },
        stderr: (d) => {
          stderr += d.toString();
        },
      },
    );
    return { ...started, stderr: () => stderr };
  }
  after(async () => fake.close());

  it("exits 1, without forking workers forever, when the workers cannot listen (the port is taken)", async () => {
    const taken = net.createServer();
    await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", resolve));
    const fresh = await freshDatabase("sqlite");
    try {
      const port = String((taken.address() as net.AddressInfo).port);
      const child = spawn(
        process.execPath,
        [SERVER_BIN, "serve", "--workers", "2", "--port", port, "--data-dir", fresh.dataDir, "-u", fake.url],
        { stdio: ["ignore", "ignore", "pipe"] },
      );
      let stderr = "";
      child.stderr.on("data", (d: Buffer) => {
        stderr += d.toString();
      });
      const { code } = await exited(child);
      assert.equal(code, 1, stderr);
      assert.match(stderr, /port \d+ is taken/);
    } finally {
      taken.close();
      await fresh.drop();
    }
  });

  it("keeps serving, and starts another later, when a replacement worker dies before it listens", async (t) => {
    if (!fs.existsSync(`/proc/${process.pid}/task/${process.pid}/children`))
      return t.skip(
        "this kernel has no /proc/<pid>/task/<tid>/children, which finds the replacement to kill",
      );
    const fresh = await freshDatabase("sqlite");
    try {
      const { child, base, stderr } = await serveTwoWorkers(fresh);
      const primary = child.pid as number;
      try {
        const first = await answeringPids(base);
        assert.equal(first.size, 2);
        const [victim, survivor] = [...first] as [number, number];
        process.kill(victim, "SIGKILL");
        // The replacement is killed the moment the primary forks it, long before it can listen (a start takes
        // hundreds of milliseconds): as a replacement whose store refused it would die.
        const replacement = await eventually(
          () => workerPids(primary).find((pid) => pid !== survivor && pid !== victim),
          10_000,
          () => `the primary forks a replacement; stderr:\n${stderr()}`,
        );
        process.kill(replacement, "SIGKILL");
        // The survivor answers meanwhile, and the primary tries again: two workers answer, neither the killed ones.
        assert.equal(await healthPid(base), survivor);
        await eventually(
          async () => {
            const pids = await answeringPids(base);
            return pids.size === 2 && !pids.has(victim) && !pids.has(replacement);
          },
          30_000,
          () => `a worker in place of the killed replacement; stderr:\n${stderr()}`,
        );
        assert.match(stderr(), /exited \(SIGKILL\) before it listened; starting another in 500 ms/);
        // A worker that dies soon after it listened is a crash loop in the making: the wait keeps growing.
        const third = [...(await answeringPids(base))].find((pid) => pid !== survivor) as number;
        process.kill(third, "SIGKILL");
        await eventually(
          async () => {
            const pids = await answeringPids(base);
            return pids.size === 2 && !pids.has(third);
          },
          30_000,
          () => `a worker in place of the third one killed; stderr:\n${stderr()}`,
        );
        assert.match(stderr(), /exited \(SIGKILL\) \d+ ms after it listened; starting another in 1000 ms/);
        assert.equal(child.exitCode, null, "the primary still runs");
      } finally {
        // A worker still starting has no handler yet for its primary's death: it is killed with it.
        try {
          for (const pid of workerPids(primary)) process.kill(pid, "SIGKILL");
        } catch {} // the primary is gone already, and its workers with it
        child.kill("SIGKILL");
      }
    } finally {
      await fresh.drop();
    }
  });

  for (const dialect of DIALECTS) {
    it(`answers on one port from two pids, stores every call once, and drains on SIGTERM (${dialect})`, async (t) => {
      if (dialect === "postgres" && !(await postgresAvailable())) return t.skip("PostgreSQL unreachable");
      const fresh = await freshDatabase(dialect);
      try {
        // A minute between flushes: what is stored by the exit was stored by the drain SIGTERM starts.
        const { child, base } = await serveTwoWorkers(fresh, { INTERSEBD_FLUSH_MS: "60000" });
        const exit = exited(child);
        try {
          const pids = await answeringPids(base);
          assert.equal(pids.size, 2, "two processes answer on the port");
          assert.ok(!pids.has(child.pid as number), "the primary answers no request itself");
          // One call long and not ASCII, as a long conversation's: the workers hand it to the primary's writer over
          // their IPC channel, whole.
          const long = `${'日本語の長い会話 🙂 "quoted" '.repeat(3000)}end`;
          const ids = await Promise.all(
            Array.from({ length: 60 }, (_, i) => answeredCall(base, i === 0 ? long : `drained ${i}`)),
          );
          assert.ok(ids.every(Boolean), "every call answered");
          // A scrape reaches one worker or the other: each answers with both workers' counters, summed.
          const proxied = (text: string) =>
            [...text.matchAll(/^intersebd_proxied_requests_total\{[^}]*\} (\d+)/gm)].reduce(
              (sum, m) => sum + Number(m[1]),
              0,
            );
          const scrapes = await Promise.all(
            Array.from({ length: 4 }, () => request(base, "GET", "/metrics")),
          );
          for (const scrape of scrapes) {
            assert.equal(scrape.status, 200);
            assert.doesNotMatch(scrape.text, /this worker's figures only/);
            assert.equal(proxied(scrape.text), ids.length, "every worker's proxied calls, in every scrape");
          }
          child.kill("SIGTERM");
          assert.deepEqual(await exit, { code: 0, signal: null }, "the primary exits cleanly once drained");
          const stored = await storedIds(dialect, fresh.db);
          assert.deepEqual([...stored].sort(), [...(ids as string[])].sort(), "every call stored, once");
          assert.equal(await storedPrompt(dialect, fresh.db, ids[0] as string), long, "the long call, whole");
        } finally {
          child.kill("SIGKILL");
        }
      } finally {
        await fresh.drop();
      }
    });

    it(`loses no answered call when a worker is SIGKILLed under traffic (${dialect})`, async (t) => {
      if (dialect === "postgres" && !(await postgresAvailable())) return t.skip("PostgreSQL unreachable");
      const fresh = await freshDatabase(dialect);
      try {
        const { child, base, stderr } = await serveTwoWorkers(fresh);
        const exit = exited(child);
        try {
          const victim = [...(await answeringPids(base))][0] as number;
          const CALLS = 300;
          let next = 0;
          let killed = false;
          const answered: string[] = [];
          let cut = 0;
          const client = async () => {
            while (next < CALLS) {
              const i = next++;
              if (i === CALLS / 3 && !killed) {
                killed = true;
                process.kill(victim, "SIGKILL");
              }
              const id = await answeredCall(base, `kill ${i} ${Math.random()}`);
              if (id) answered.push(id);
              else cut++;
            }
          };
          await Promise.all(Array.from({ length: 20 }, client));
          t.diagnostic(`${answered.length} answered, ${cut} cut by the kill`);
          assert.ok(killed);
          // The primary started another worker in its place: two answer again.
          await eventually(
            async () => {
              const pids = await answeringPids(base);
              return pids.size === 2 && !pids.has(victim);
            },
            60_000,
            () => `a new worker in the killed one's place; stderr:\n${stderr()}`,
          );
          child.kill("SIGTERM");
          assert.equal((await exit).code, 0, stderr());
          const stored = await storedIds(dialect, fresh.db);
          const once = new Set(stored);
          assert.equal(once.size, stored.length, "no call stored twice");
          const lost = answered.filter((id) => !once.has(id));
          assert.deepEqual(lost, [], `${lost.length} of ${answered.length} answered calls lost`);
        } finally {
          child.kill("SIGKILL");
        }
      } finally {
        await fresh.drop();
      }
    });
  }
});
