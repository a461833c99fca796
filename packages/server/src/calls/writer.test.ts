/**
 * The write-behind path off the event loop (issue 20, calls/writer.ts): on SQLite the proxy's thread journals and
 * hands calls over, and a writer thread commits them, with the insert hook, on its own connection.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { DatabaseSync } from "node:sqlite";
import { after, before, describe, it } from "node:test";
import { sql } from "kysely";
import OpenAI from "openai";
import type { NewCallRow } from "../store/index.ts";
import {
  type FakeUpstream,
  freshDatabase,
  openStoreOn,
  SERVER_BIN,
  startFakeUpstream,
  startTestServer,
  startupLine,
  type TestServer,
} from "../testing/index.ts";
import { type Channel, type FromWriter, type ToWriter, WriterRecorder } from "./writer.ts";

/** Rows this thread's SQLite connection has inserted, updated or deleted since it opened (SQLite counts them). */
async function changesOnThisThread(server: TestServer): Promise<number> {
  const { rows } = await sql<{ n: number }>`select total_changes() as n`.execute(server.ctx.store.db);
  return Number(rows[0]?.n);
}

async function callsStored(server: TestServer): Promise<number> {
  const row = await server.ctx.store.db
    .selectFrom("calls")
    .select((eb) => eb.fn.countAll<number>().as("n"))
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

async function proxyCalls(server: TestServer, count: number): Promise<void> {
  const client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "sk-test" });
  await Promise.all(
    Array.from({ length: count }, (_, i) =>
      client.chat.completions.create({
        model: "gpt-4o-mini",
        messages: [{ role: "user", content: `call ${i}` }],
        stream: i % 2 === 1,
      }),
    ),
  );
}

describe("calls are written off the proxy's thread (SQLite)", () => {
  let fake: FakeUpstream;
  before(async () => {
    fake = await startFakeUpstream({ keepRequests: false });
  });
  after(async () => fake.close());

  it("commits no call insert on the proxy's connection: the writer thread stores them all", async () => {
    const server = await startTestServer("sqlite", { upstream: fake.url });
    try {
      const before = await changesOnThisThread(server);
      await proxyCalls(server, 40);
      await server.ctx.recorder.flush();
      assert.equal(await callsStored(server), 40, "every call is stored");
      assert.equal(await changesOnThisThread(server), before, "none of them by this thread's connection");
    } finally {
      await server.stop();
    }
  });

  it("waits for the writer's lock off the event loop: an API write while another connection holds it", async () => {
    const server = await startTestServer("sqlite");
    // Another connection (as the writer thread, committing a batch) holds SQLite's one write lock for 300 ms.
    const holder = new DatabaseSync(server.config.db.kind === "sqlite" ? server.config.db.file : "");
    try {
      holder.exec("begin immediate");
      let ticks = 0;
      const ticking = setInterval(() => ticks++, 10);
      const released = new Promise<void>((resolve) =>
        setTimeout(() => {
          holder.exec("commit");
          resolve();
        }, 300),
      );
      // SQLite's busy handler would sleep on the loop until the lock was free: no timer would fire, the lock
      // would never be released here, and the write would fail after the busy timeout (5 s).
      const r = await server.api("/api/links", {
        body: [{ upstreamTag: "lock-u", downstreamTag: "lock-d" }],
      });
      clearInterval(ticking);
      await released;
      assert.equal(r.status, 201, JSON.stringify(r.body));
      assert.ok(ticks >= 5, `the event loop ran while the write waited (${ticks} ticks of 10 ms)`);
    } finally {
      holder.close();
      await server.stop();
    }
  });

  it("runs the insert hook in the writer: a live evaluator created through the API gets every later call", async () => {
    const server = await startTestServer("sqlite", { upstream: fake.url });
    try {
      // Its rules reach the writer before the API answers, so the very next calls are enqueued.
      const created = await server.api<{ id: string }>("/api/evaluators", {
        body: { name: "every call", checks: ["json-schema"] },
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      await proxyCalls(server, 12);
      await server.ctx.recorder.flush();
      const jobs = await server.ctx.store.db
        .selectFrom("liveJobs")
        .select("callId")
        .where("evaluatorId", "=", created.body.id)
        .execute();
      assert.equal(jobs.length, 12, "one job per call, enqueued in the calls' insert transaction");
    } finally {
      await server.stop();
    }
  });

  it("counts what this thread's connection commits when it does write the calls (writer: inline)", async () => {
    // The measure above can see call inserts: with the writer on this thread, the same calls change its count.
    const server = await startTestServer("sqlite", { upstream: fake.url, writer: "inline" });
    try {
      const before = await changesOnThisThread(server);
      await proxyCalls(server, 10);
      await server.ctx.recorder.flush();
      assert.equal(await callsStored(server), 10);
      assert.ok((await changesOnThisThread(server)) >= before + 10, "this thread's connection inserted them");
    } finally {
      await server.stop();
    }
  });

  it("stores calls through the writer thread of the bin started as installed (its shebang's Node flags)", async () => {
    const fresh = await freshDatabase("sqlite");
    // The bin itself, not `node bin/...`: the shebang passes flags (--max-semi-space-size) that a worker thread
    // refuses to inherit; the Node found first on PATH is this one.
    const child = spawn(
      SERVER_BIN,
      ["serve", "--port", "0", "--db", fresh.db, "--data-dir", fresh.dataDir, "-u", fake.url],
      {
        env: {
          ...process.env,
          PATH: `${path.dirname(process.execPath)}${path.delimiter}${process.env.PATH}`,
        },
      },
    );
    try {
      const { base } = await startupLine(child);
      const client = new OpenAI({ baseURL: `${base}/v1`, apiKey: "sk-test" });
      await client.chat.completions.create({
        model: "gpt-4o-mini",
        messages: [{ role: "user", content: "hi" }],
      });
      const exit = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      assert.equal(await exit, 0);
      const store = await openStoreOn("sqlite", fresh.db);
      try {
        const rows = await store.db.selectFrom("calls").select("id").execute();
        assert.equal(rows.length, 1, "the call is stored");
      } finally {
        await store.close();
      }
    } finally {
      child.kill("SIGKILL");
      await fresh.drop();
    }
  });

  it("answers POST /api/calls 201 once the writer stored the calls, and counts them in /metrics", async () => {
    const server = await startTestServer("sqlite", { upstream: fake.url });
    try {
      const stored = await server.api<{ stored: boolean }>("/api/calls", {
        body: { id: "call_posted", request: { model: "m", messages: [] }, response: null },
      });
      assert.equal(stored.status, 201, JSON.stringify(stored.body));
      const row = await server.ctx.store.db
        .selectFrom("calls")
        .select("id")
        .where("id", "=", "call_posted")
        .executeTakeFirst();
      assert.equal(row?.id, "call_posted", "stored before the answer");
      const metrics = await fetch(`${server.url}/metrics`).then((r) => r.text());
      assert.match(metrics, /intersebd_stored_calls_total \d+/);
    } finally {
      await server.stop();
    }
  });
});

describe("the proxy's side of the writer (WriterRecorder, over a channel)", () => {
  const silent = { debug() {}, info() {}, warn() {}, error() {}, child: () => silent };
  const metrics = () => {
    const count = () => ({
      n: 0,
      inc(by = 1) {
        this.n += by;
      },
    });
    return {
      queueDepth: { set() {} },
      storedCalls: count(),
      spooledRecords: count(),
      replayedRecords: count(),
      droppedRecords: count(),
      rejectedRecords: { inc() {} },
    };
  };
  /** A channel whose far end is the test: what was posted, and a way to answer. */
  const channel = () => {
    const posted: ToWriter[] = [];
    let receive: (msg: { t: string }) => void = () => {};
    const end: Channel<ToWriter> = {
      post: (msg) => posted.push(msg),
      onMessage: (fn) => {
        receive = fn;
      },
    };
    return { end, posted, answer: (msg: FromWriter) => receive(msg) };
  };
  const journalLines = (dir: string) =>
    fs
      .readdirSync(dir)
      .filter((f) => f.startsWith("answered-"))
      .flatMap((f) => fs.readFileSync(path.join(dir, f), "utf8").split("\n").filter(Boolean));

  const rowsPosted = (posted: ToWriter[]) =>
    posted.filter((m): m is Extract<ToWriter, { t: "rows" }> => m.t === "rows");
  const idsIn = (lines: string) => lines.split("\n").map((l) => (JSON.parse(l) as { id: string }).id);
  // Not ASCII, so that bytes and characters differ: what is sent again must be the same text.
  const rows = ["a", "é", "日本", "🙂"].map(
    (s, i) => ({ id: `call_${i}`, preview: s }) as unknown as NewCallRow,
  );
  const recorderOn = (end: Channel<ToWriter>, dir: string) =>
    new WriterRecorder(
      end,
      { journalInstance: `${process.pid}-1`, spoolDir: dir, rejectedDir: dir, queueMax: 100, batchSize: 2 },
      metrics(),
      silent,
    );

  it("sends a writer that replaced a dead one every call not yet stored, read back from the journal, and releases them on done", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "intersebd-writer-"));
    const { end, posted, answer } = channel();
    const recorder = recorderOn(end, dir);
    for (const row of rows) recorder.record(row);
    // Two batches of two (batchSize), both in the journal before anything is stored.
    const batches = rowsPosted(posted);
    assert.equal(batches.length, 2);
    assert.deepEqual(
      journalLines(dir).map((l) => JSON.parse(l).id),
      rows.map((r) => r.id),
    );
    assert.equal(recorder.queueDepth, 4);
    // The first batch is stored; the writer then dies with the second one in hand.
    answer({ t: "done", seq: batches[0]?.seq as number });
    assert.equal(recorder.queueDepth, 2);
    posted.length = 0;
    recorder.resend();
    const [again, ...more] = rowsPosted(posted);
    assert.ok(again && more.length === 0, "one batch sent again");
    assert.ok(!batches.some((b) => b.seq === again.seq), "under a new seq");
    // The journal's segment holds both batches: the stored one goes again too, and is stored once (ON CONFLICT).
    for (const line of again.lines.split("\n")) {
      const sent = JSON.parse(line) as { id: string };
      assert.deepEqual(
        sent,
        rows.find((r) => r.id === sent.id),
        "each line as recorded",
      );
    }
    assert.ok(
      ["call_2", "call_3"].every((id) => idsIn(again.lines).includes(id)),
      "every call not yet stored",
    );
    assert.equal(recorder.queueDepth, 2);
    answer({ t: "done", seq: again.seq });
    assert.equal(recorder.queueDepth, 0);
    // A second resend has nothing left to send.
    posted.length = 0;
    recorder.resend();
    assert.equal(posted.length, 0);
    // Closing flushes: the writer answers that everything sent before is stored; the journal is then deleted.
    const closed = recorder.close();
    const flush = posted.find((m) => m.t === "flush");
    assert.ok(flush);
    answer({ t: "reply", id: flush.id });
    await closed;
    assert.deepEqual(journalLines(dir), []);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("keeps the calls the journal could not take, and sends them again from memory", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "intersebd-writer-"));
    const { end, posted } = channel();
    const recorder = recorderOn(end, dir);
    // The journal's directory is gone: no segment can be opened, as on a full or failed disk.
    fs.rmSync(dir, { recursive: true, force: true });
    for (const row of rows) recorder.record(row);
    assert.equal(rowsPosted(posted).length, 2);
    posted.length = 0;
    recorder.resend();
    const [again] = rowsPosted(posted);
    assert.deepEqual(again && idsIn(again.lines), ["call_0", "call_1", "call_2", "call_3"]);
  });

  it("journals the calls that find the queue full, sends them in order as it drains, and flushes them all", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "intersebd-writer-"));
    const { end, posted, answer } = channel();
    const m = metrics();
    const recorder = new WriterRecorder(
      end,
      { journalInstance: `${process.pid}-1`, spoolDir: dir, rejectedDir: dir, queueMax: 4, batchSize: 2 },
      m,
      silent,
    );
    const many = Array.from(
      { length: 11 },
      (_, i) => ({ id: `call_${i}`, preview: "é" }) as unknown as NewCallRow,
    );
    for (const row of many) recorder.record(row);
    assert.equal(m.droppedRecords.n, 0, "none dropped");
    assert.deepEqual(
      [recorder.queueDepth, recorder.journaled],
      [4, 7],
      "four in memory, the rest in the journal",
    );
    assert.deepEqual(
      journalLines(dir).map((l) => JSON.parse(l).id),
      many.map((r) => r.id),
      "every call journaled before anything is stored",
    );
    const sent = () => rowsPosted(posted).flatMap((b) => idsIn(b.lines));
    assert.deepEqual(sent(), ["call_0", "call_1", "call_2", "call_3"]);
    // Stored a batch at a time: each time half the queue is free, the journal is read back to fill it.
    const answered = new Set<number>();
    for (let round = 0; round < 20 && answered.size < rowsPosted(posted).length; round++) {
      const next = rowsPosted(posted).find((b) => !answered.has(b.seq));
      if (!next) break;
      answered.add(next.seq);
      answer({ t: "done", seq: next.seq });
      assert.ok(
        recorder.queueDepth <= 4,
        `never more than the queue's bound in memory: ${recorder.queueDepth}`,
      );
    }
    assert.deepEqual(
      sent(),
      many.map((r) => r.id),
      "each call sent once, in the order answered",
    );
    assert.deepEqual([recorder.queueDepth, recorder.journaled], [0, 0]);
    // A flush with calls still in the journal sends them all before it resolves.
    for (const row of many.slice(0, 4)) recorder.record({ ...row, id: `${row.id}_again` });
    for (let i = 0; i < 7; i++) recorder.record({ ...(many[0] as NewCallRow), id: `late_${i}` });
    assert.equal(recorder.journaled, 7);
    // The writer answers everything posted, as it would: batches with done, flushes with reply.
    const answering = async (work: Promise<void>) => {
      let finished = false;
      void work.then(() => {
        finished = true;
      });
      for (let turn = 0; turn < 100 && !finished; turn++) {
        for (const msg of posted.splice(0)) {
          if (msg.t === "rows") answer({ t: "done", seq: msg.seq });
          if (msg.t === "flush") answer({ t: "reply", id: msg.id });
        }
        await new Promise((r) => setImmediate(r));
      }
      await work;
    };
    await answering(recorder.flush());
    assert.deepEqual(
      [recorder.queueDepth, recorder.journaled],
      [0, 0],
      "the flush waited for the journal's calls",
    );
    await answering(recorder.close());
    assert.deepEqual(journalLines(dir), [], "every call stored: the journal is gone");
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("hands calls over at most once every 10 ms, and the first after a quiet spell on the next turn", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "intersebd-writer-"));
    const { end, posted } = channel();
    const recorder = new WriterRecorder(
      end,
      { journalInstance: `${process.pid}-1`, spoolDir: dir, rejectedDir: dir, queueMax: 100, batchSize: 100 },
      metrics(),
      silent,
    );
    const turn = () => new Promise((r) => setImmediate(r));
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    recorder.record(rows[0] as NewCallRow);
    await turn();
    assert.equal(rowsPosted(posted).length, 1, "the first call goes on the next turn");
    // Calls that end one per turn, as at c=1: held until 10 ms after the last hand-over, then sent together.
    for (const row of rows.slice(1)) {
      recorder.record(row);
      await turn();
    }
    assert.equal(rowsPosted(posted).length, 1, "not one hand-over per call");
    await sleep(15);
    const sent = rowsPosted(posted);
    assert.equal(sent.length, 2);
    assert.deepEqual(idsIn((sent[1] as { lines: string }).lines), ["call_1", "call_2", "call_3"]);
    // After a quiet spell longer than the spacing, the next call goes at once again.
    await sleep(15);
    recorder.record({ ...(rows[0] as NewCallRow), id: "call_later" });
    await turn();
    assert.equal(rowsPosted(posted).length, 3);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("says how long the oldest call or request sent to the writer has waited for its answer (0 when none)", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "intersebd-writer-"));
    const { end, posted, answer } = channel();
    const recorder = recorderOn(end, dir);
    const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));
    assert.equal(recorder.oldestUnstoredMs, 0);
    recorder.record(rows[0] as NewCallRow);
    recorder.record(rows[1] as NewCallRow); // a batch of two: posted at once
    await pause(60);
    recorder.record(rows[2] as NewCallRow);
    recorder.record(rows[3] as NewCallRow);
    const [first, second] = rowsPosted(posted);
    assert.ok(recorder.oldestUnstoredMs >= 55, `the first batch's age: ${recorder.oldestUnstoredMs}`);
    answer({ t: "done", seq: first?.seq as number });
    assert.ok(recorder.oldestUnstoredMs < 30, `now the second's: ${recorder.oldestUnstoredMs}`);
    answer({ t: "done", seq: second?.seq as number });
    assert.equal(recorder.oldestUnstoredMs, 0);
    // A request (flush) waits as well; one sent again to a new writer starts over.
    const flushing = recorder.flush();
    await pause(60);
    assert.ok(recorder.oldestUnstoredMs >= 55, `the flush's age: ${recorder.oldestUnstoredMs}`);
    recorder.resend();
    assert.ok(recorder.oldestUnstoredMs < 30, `after resend: ${recorder.oldestUnstoredMs}`);
    const flush = posted.findLast((m) => m.t === "flush");
    answer({ t: "reply", id: (flush as { id: number }).id });
    await flushing;
    assert.equal(recorder.oldestUnstoredMs, 0);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
