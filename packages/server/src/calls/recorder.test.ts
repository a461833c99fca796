/**
 * Fault tests of the write-behind path: the store going away during traffic, and the process being
 * killed with SIGKILL in the middle of a flush. Every captured call must be stored exactly once.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { DatabaseSync } from "node:sqlite";
import { after, before, describe, it } from "node:test";
import pg from "pg";
import type { Config } from "../config/index.ts";
import {
  CLI_MAIN,
  DIALECTS,
  eventually,
  type FakeUpstream,
  freshDatabase,
  PG_ADMIN_URL,
  postgresAvailable,
  spawnServe,
  startFakeUpstream,
  startTestServer,
  startupLine,
} from "../testing/index.ts";

async function chat(base: string, text: string): Promise<Response> {
  return fetch(`${base}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content: text }] }),
  });
}

/** A TCP relay to PostgreSQL that the test can cut and restore, to make the database unreachable for real. */
async function startRelay(targetPort: number, port = 0) {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(targetPort, "127.0.0.1");
    sockets.add(client).add(upstream);
    client.pipe(upstream).pipe(client);
    const drop = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on("error", drop).on("close", drop);
    upstream.on("error", drop).on("close", drop);
  });
  await new Promise<void>((r) => server.listen(port, "127.0.0.1", () => r()));
  return {
    port: (server.address() as net.AddressInfo).port,
    cut: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        for (const s of sockets) s.destroy();
      }),
  };
}

/**
 * Another connection takes the store's write lock, as a slow disk or a busy database would hold up the writer (on
 * SQLite within its busy timeout, 5 s, so that it waits rather than fails).
 */
async function holdWriteLock(db: Config["db"]): Promise<{ release(): Promise<void> }> {
  if (db.kind === "sqlite") {
    const holder = new DatabaseSync(db.file);
    holder.exec("begin immediate");
    return {
      release: async () => {
        holder.exec("commit");
        holder.close();
      },
    };
  }
  const holder = new pg.Client({ connectionString: db.url });
  await holder.connect();
  await holder.query("begin");
  await holder.query("lock table calls in exclusive mode");
  return {
    release: async () => {
      await holder.query("commit");
      await holder.end();
    },
  };
}

/** 40 calls, ten at a time, all answered. */
async function fortyCalls(base: string): Promise<string[]> {
  const answers: Response[] = [];
  for (let round = 0; round < 4; round++)
    answers.push(...(await Promise.all(Array.from({ length: 10 }, (_, i) => chat(base, `${round}.${i}`)))));
  assert.ok(
    answers.every((r) => r.status === 200),
    "every proxied request answered",
  );
  return answers.map((r) => r.headers.get("x-intersebd-call-id") as string);
}

type Server = Awaited<ReturnType<typeof startTestServer>>;

/** The ids of the calls in a server's store, sorted, each as many times as it is stored. */
async function storedIds(server: Server): Promise<string[]> {
  return (await server.ctx.store.db.selectFrom("calls").select("id").execute()).map((r) => r.id).sort();
}

describe("write-behind recorder", () => {
  let fake: FakeUpstream;
  before(async () => {
    fake = await startFakeUpstream({ keepRequests: false });
  });
  after(async () => fake.close());

  /** A server started on a stopped one's store and data dir (its start replays what that one left), for `check`. */
  async function nextStart(
    dialect: (typeof DIALECTS)[number],
    fresh: { db: string; dataDir: string },
    check: (server: Server) => Promise<void>,
  ): Promise<void> {
    const server = await startTestServer(dialect, {
      upstream: fake.url,
      db: fresh.db,
      dataDir: fresh.dataDir,
    });
    try {
      await check(server);
    } finally {
      await server.close();
    }
  }

  it("stores every call exactly once when PostgreSQL goes down during traffic and comes back", async (t) => {
    if (!DIALECTS.includes("postgres") || !(await postgresAvailable()))
      return t.skip("PostgreSQL unreachable");
    const fresh = await freshDatabase("postgres");
    const pgPort = Number(new URL(PG_ADMIN_URL).port || 5432);
    let relay = await startRelay(pgPort);
    const url = new URL(fresh.db);
    url.host = `127.0.0.1:${relay.port}`;
    const server = await startTestServer("postgres", {
      upstream: fake.url,
      db: url.toString(),
      dataDir: fresh.dataDir,
    });
    try {
      const before = await Promise.all(Array.from({ length: 10 }, (_, i) => chat(server.url, `before ${i}`)));
      assert.ok(before.every((r) => r.status === 200));
      await server.ctx.recorder.flush();

      await relay.cut();
      const during = await Promise.all(Array.from({ length: 25 }, (_, i) => chat(server.url, `during ${i}`)));
      assert.ok(
        during.every((r) => r.status === 200),
        "no proxied request fails because logging failed",
      );
      await server.ctx.recorder.flush();
      assert.equal(server.ctx.recorder.storeReachable, false, "the recorder noticed the store is down");
      const spooled = fs.readdirSync(path.join(fresh.dataDir, "spool")).filter((f) => f.startsWith("spool-"));
      assert.ok(spooled.length > 0, "calls went to the spool file");
      const health = await server.api<{ storeReachable: boolean }>("/healthz");
      assert.equal(health.body.storeReachable, false);

      relay = await startRelay(pgPort, relay.port);
      const after = await Promise.all(Array.from({ length: 5 }, (_, i) => chat(server.url, `after ${i}`)));
      assert.ok(after.every((r) => r.status === 200));
      const ids = [...before, ...during, ...after].map((r) => r.headers.get("x-intersebd-call-id") as string);
      await eventually(
        async () => {
          await server.ctx.recorder.flush();
          const rows = await server.ctx.store.db.selectFrom("calls").select("id").execute();
          return rows.length === ids.length;
        },
        20_000,
        "all 40 calls stored after the database came back",
      );
      assert.deepEqual(await storedIds(server), [...ids].sort(), "each call stored exactly once");
      const left = fs.readdirSync(path.join(fresh.dataDir, "spool")).filter((f) => f.startsWith("spool-"));
      assert.deepEqual(left, [], "replayed spool files are removed");
    } finally {
      await server.close();
      await relay.cut();
      await fresh.drop();
    }
  });

  it("spools calls from memory when SQLite cannot take them, and stores each once at the next start", async () => {
    const fresh = await freshDatabase("sqlite");
    const server = await startTestServer("sqlite", {
      upstream: fake.url,
      db: fresh.db,
      dataDir: fresh.dataDir,
      // The outage is this thread's connection closing (below), so this thread writes the calls.
      writer: "inline",
    });
    const spoolDir = path.join(fresh.dataDir, "spool");
    try {
      const before = await Promise.all(Array.from({ length: 5 }, (_, i) => chat(server.url, `before ${i}`)));
      await server.ctx.recorder.flush();
      // The store's connection goes away under the recorder: every write and every probe now fails.
      await server.ctx.store.close();
      const during = await Promise.all(Array.from({ length: 8 }, (_, i) => chat(server.url, `during ${i}`)));
      assert.ok(
        during.every((r) => r.status === 200),
        "no proxied request fails because logging failed",
      );
      await server.ctx.recorder.flush();
      assert.equal(server.ctx.recorder.storeReachable, false);
      const spooled = fs.readdirSync(spoolDir).filter((f) => f.startsWith("spool-"));
      const lines = spooled.flatMap((f) =>
        fs.readFileSync(path.join(spoolDir, f), "utf8").trim().split("\n"),
      );
      assert.equal(lines.length, during.length, "each call of the outage is in the spool, once");
      await server.ctx.recorder.close();

      await nextStart("sqlite", fresh, async (next) => {
        const ids = [...before, ...during].map((r) => r.headers.get("x-intersebd-call-id") as string);
        assert.deepEqual(await storedIds(next), [...ids].sort(), "each call stored exactly once");
        assert.deepEqual(fs.readdirSync(spoolDir), [], "the replayed spool is gone");
      });
    } finally {
      await server.close();
      await fresh.drop();
    }
  });

  // The store slower than the traffic: another connection holds the write lock while calls keep coming.
  for (const dialect of DIALECTS) {
    it(`keeps the calls answered while the queue is full in the answered journal, and stores every one (${dialect})`, async (t) => {
      if (dialect === "postgres" && !(await postgresAvailable())) return t.skip("PostgreSQL unreachable");
      const server = await startTestServer(dialect, {
        upstream: fake.url,
        env: { INTERSEBD_QUEUE_MAX: "5" },
      });
      const lock = await holdWriteLock(server.config.db);
      let released = false;
      try {
        const ids = await fortyCalls(server.url);
        const status = await server.api<{ queue: { depth: number; max: number; journaled: number } }>(
          "/api/status",
        );
        const { depth, max, journaled } = status.body.queue;
        assert.equal(max, 5);
        assert.ok(depth <= 5, `memory holds at most the queue's bound: ${depth}`);
        assert.equal(depth + journaled, ids.length, `the rest wait in the journal: ${depth} + ${journaled}`);
        await lock.release();
        released = true;
        await server.ctx.recorder.flush();
        const rows = await server.ctx.store.db
          .selectFrom("calls")
          .select("id")
          .where("id", "in", ids)
          .execute();
        assert.deepEqual(
          rows.map((r) => r.id).sort(),
          [...ids].sort(),
          "every call answered is stored, once",
        );
        const after = await server.api<{ queue: { depth: number; journaled: number } }>("/api/status");
        assert.deepEqual([after.body.queue.depth, after.body.queue.journaled], [0, 0]);
        const metrics = await (await fetch(`${server.url}/metrics`)).text();
        assert.match(metrics, /^intersebd_dropped_records_total 0$/m, "none dropped");
        assert.match(metrics, /^intersebd_journal_backlog 0$/m);
      } finally {
        if (!released) await lock.release();
        await server.close();
      }
    });
  }

  for (const dialect of DIALECTS) {
    it(`stores at the next start the calls that waited in the journal when the process was SIGKILLed (${dialect})`, async (t) => {
      if (dialect === "postgres" && !(await postgresAvailable())) return t.skip("PostgreSQL unreachable");
      const fresh = await freshDatabase(dialect);
      const child = spawnServe(CLI_MAIN, fresh, {
        INTERSEBD_UPSTREAM: fake.url,
        INTERSEBD_QUEUE_MAX: "5",
        INTERSEBD_LOG_LEVEL: "error",
      });
      child.stderr.pipe(process.stderr);
      const exited = new Promise<void>((r) => child.on("exit", () => r()));
      let lock: { release(): Promise<void> } | undefined;
      try {
        const { base } = await startupLine(child);
        lock = await holdWriteLock(
          dialect === "sqlite" ? { kind: "sqlite", file: fresh.db } : { kind: "postgres", url: fresh.db },
        );
        const ids = await fortyCalls(base);
        const status = (await (await fetch(`${base}/api/status`)).json()) as { queue: { journaled: number } };
        assert.ok(status.queue.journaled > 0, `calls wait in the journal: ${JSON.stringify(status.queue)}`);
        child.kill("SIGKILL");
        await exited;
        await lock.release();
        lock = undefined;
        await nextStart(dialect, fresh, async (server) => {
          assert.deepEqual(await storedIds(server), [...ids].sort(), "every call answered, stored once");
        });
      } finally {
        child.kill("SIGKILL");
        await lock?.release();
        await fresh.drop();
      }
    });
  }

  for (const dialect of DIALECTS) {
    it(`sets aside a row the store refuses, stores the rest, and keeps the store marked reachable (${dialect})`, async (t) => {
      if (dialect === "postgres" && !(await postgresAvailable())) return t.skip("PostgreSQL unreachable");
      const server = await startTestServer(dialect, { upstream: fake.url });
      try {
        const ok = await Promise.all([chat(server.url, "first"), chat(server.url, "second")]);
        await server.ctx.recorder.flush();
        const good = ok.map((r) => r.headers.get("x-intersebd-call-id") as string);
        const stored = await server.ctx.store.db
          .selectFrom("calls")
          .selectAll()
          .where("id", "=", good[0] as string)
          .executeTakeFirstOrThrow();
        // A row no store will take (outcome is NOT NULL), between two good ones in the same batch.
        server.ctx.recorder.record({ ...stored, id: "call_good_1" });
        server.ctx.recorder.record({ ...stored, id: "call_poison", outcome: null as unknown as string });
        server.ctx.recorder.record({ ...stored, id: "call_good_2" });
        await server.ctx.recorder.flush();
        assert.equal(
          server.ctx.recorder.storeReachable,
          true,
          "one bad row does not make the store look down",
        );
        assert.deepEqual(await storedIds(server), [...good, "call_good_1", "call_good_2"].sort());
        const dataDir = server.config.dataDir;
        const rejected = fs.readdirSync(dataDir).filter((f) => f.startsWith("rejected-"));
        assert.equal(rejected.length, 1);
        assert.match(rejected[0] as string, /^rejected-\d{4}-\d{2}-\d{2}\.jsonl$/, "one file per UTC day");
        const lines = fs
          .readFileSync(path.join(dataDir, rejected[0] as string), "utf8")
          .trim()
          .split("\n");
        assert.equal(lines.length, 1);
        const line = JSON.parse(lines[0] as string);
        assert.deepEqual(
          [line.id, line.reason, line.row.id],
          ["call_poison", "store_refused", "call_poison"],
        );
        assert.match(line.error, /null|outcome/i, "the store's reason is kept");
        const metrics = await fetch(`${server.url}/metrics`).then((r) => r.text());
        assert.match(metrics, /intersebd_rejected_records_total\{reason="store_refused"\} 1/);
        const after = await chat(server.url, "third");
        await server.ctx.recorder.flush();
        assert.equal(
          (await server.api(`/api/calls/${after.headers.get("x-intersebd-call-id")}`)).status,
          200,
          "later calls are stored",
        );
      } finally {
        await server.stop();
      }
    });
  }

  // Killed after the batch is committed and before its answered-journal lines are released: the replay at the
  // next start meets rows already stored, and must store none twice.
  for (const dialect of DIALECTS) {
    const point = "crash-after-insert";
    it(`stores every call once after SIGKILL at ${point} (${dialect})`, async (t) => {
      if (dialect === "postgres" && !(await postgresAvailable())) return t.skip("PostgreSQL unreachable");
      const fresh = await freshDatabase(dialect);
      const child = spawnServe(CLI_MAIN, fresh, {
        INTERSEBD_UPSTREAM: fake.url,
        INTERSEBD_FLUSH_MS: "400",
        INTERSEBD_FAULT_INJECT: point,
        INTERSEBD_LOG_LEVEL: "error",
      });
      // Its errors, if any, show with the test's.
      child.stderr.pipe(process.stderr);
      const exited = new Promise<NodeJS.Signals | null>((r) =>
        child.on("exit", (_code, signal) => r(signal)),
      );
      try {
        const { base } = await startupLine(child);
        const responses = await Promise.all(Array.from({ length: 6 }, (_, i) => chat(base, `crash ${i}`)));
        assert.ok(responses.every((r) => r.status === 200));
        const ids = responses.map((r) => r.headers.get("x-intersebd-call-id") as string);
        assert.equal(await exited, "SIGKILL", "the process died in the middle of its flush");

        const journals = fs.readdirSync(path.join(fresh.dataDir, "spool"));
        assert.ok(
          journals.some(
            (f) => f.startsWith("answered-") && fs.statSync(path.join(fresh.dataDir, "spool", f)).size > 0,
          ),
          "the answered journal survived the kill",
        );
        await nextStart(dialect, fresh, async (server) => {
          assert.deepEqual(await storedIds(server), [...ids].sort(), "every call once, none twice");
          const tags = await server.ctx.store.db
            .selectFrom("callKeys")
            .selectAll()
            .where("callId", "in", ids)
            .execute();
          assert.equal(tags.length, ids.length * 2, "each call has its id and completion id as tags, once");
          assert.deepEqual(
            fs.readdirSync(path.join(fresh.dataDir, "spool")),
            [],
            "the replayed journal is gone",
          );
        });
      } finally {
        child.kill("SIGKILL");
        await fresh.drop();
      }
    });
  }
});
