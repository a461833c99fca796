/**
 * The answered journal on its own (append, rotation, deletion once released, close) and its replay by the
 * recorder at start: a dead process's segments are stored once and deleted, a torn last line is skipped with a
 * warning, a live process's segments are left alone.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import {
  capturedCall,
  DIALECTS,
  freshDatabase,
  postgresAvailable,
  startTestServer,
} from "../testing/index.ts";
import { createLogger, type Logger } from "../util/log.ts";
import { AnsweredJournal } from "./journal.ts";
import { toCallRow } from "./record.ts";

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), "intersebd-journal-"));
const segments = (dir: string) =>
  fs
    .readdirSync(dir)
    .filter((f) => f.startsWith("answered-"))
    .sort((a, b) => Number(a.split("-")[3]?.split(".")[0]) - Number(b.split("-")[3]?.split(".")[0]));
const lines = (dir: string, f: string) =>
  fs.readFileSync(path.join(dir, f), "utf8").split("\n").filter(Boolean);

/** A logger that keeps its warnings and errors. */
function keepingLogger(): Logger & { said: string[] } {
  const said: string[] = [];
  const base = createLogger("silent");
  return Object.assign(Object.create(base) as Logger, {
    said,
    warn: (m: string) => said.push(m),
    error: (m: string) => said.push(m),
  });
}

const row = (id: string) =>
  toCallRow(
    capturedCall({
      id,
      endedAt: 1_700_000_000_050,
      request: { model: "gpt-4o-mini", messages: [{ role: "user", content: `hi ${id}` }] },
      response: {
        id: `chatcmpl-${id}`,
        object: "chat.completion",
        model: "gpt-4o-mini",
        choices: [{ index: 0, message: { role: "assistant", content: `echo ${id}` }, finish_reason: "stop" }],
      },
    }),
    "full",
  );

describe("answered journal", () => {
  it("appends one line per call and deletes a segment once it is sealed and every line is released", () => {
    const dir = tmp();
    try {
      const journal = new AnsweredJournal(
        { dir, maxSegmentBytes: 2000, maxSegmentAgeMs: 60_000 },
        keepingLogger(),
      );
      const held = Array.from({ length: 10 }, (_, i) => ({
        id: `call_${i}`,
        seg: journal.append(row(`call_${i}`)),
      }));
      const files = segments(dir);
      assert.ok(files.length > 1, "rotated by size");
      const all = files.flatMap((f) => lines(dir, f).map((l) => (JSON.parse(l) as { id: string }).id));
      assert.deepEqual(
        all,
        held.map((h) => h.id),
        "each call once, in order, one JSON line each",
      );
      assert.ok(
        files.every((f) => f.startsWith(`answered-${process.pid}-`) && journal.isOwn(f)),
        "named after this process and instance",
      );

      // Released out of order: the first segment goes only once all of its lines are released.
      const first = held.filter((h) => h.seg === held[0]?.seg);
      for (const h of first.slice(1)) journal.release(h.seg);
      assert.equal(segments(dir)[0], files[0], "a segment with a line still pending stays");
      journal.release(first[0]?.seg);
      assert.ok(!segments(dir).includes(files[0] as string), "a sealed, drained segment is deleted");

      // The current segment stays while open; closing deletes it once drained, keeps it otherwise.
      for (const h of held.slice(first.length)) journal.release(h.seg);
      journal.close();
      assert.deepEqual(segments(dir), [], "nothing left once everything is released and the journal closed");
      assert.equal(journal.append(row("late")), undefined, "a closed journal takes nothing");
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("starts a new segment when the current one is drained and old, and keeps an unreleased one at close", () => {
    const dir = tmp();
    try {
      const journal = new AnsweredJournal({ dir, maxSegmentAgeMs: 0 }, keepingLogger());
      const a = journal.append(row("call_a"));
      journal.release(a);
      assert.deepEqual(segments(dir), [], "drained and old: deleted at once");
      journal.append(row("call_b"));
      journal.close();
      const left = segments(dir);
      assert.equal(left.length, 1, "an unreleased line survives close, for the next start");
      assert.deepEqual(
        lines(dir, left[0] as string).map((l) => (JSON.parse(l) as { id: string }).id),
        ["call_b"],
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("keeps the call in memory and says so once when the journal cannot be written", () => {
    const dir = tmp();
    try {
      const log = keepingLogger();
      const journal = new AnsweredJournal({ dir }, log);
      fs.rmSync(dir, { recursive: true });
      fs.writeFileSync(dir, "not a directory");
      assert.equal(journal.append(row("call_1")), undefined);
      assert.equal(journal.append(row("call_2")), undefined);
      assert.equal(log.said.filter((m) => m.includes("answered journal cannot be written")).length, 1);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("has a call POSTed to /api/calls in the journal when it answers 202 (store unreachable)", async () => {
    // The outage is this thread's connection closing (below), so this thread writes the calls.
    const server = await startTestServer("sqlite", {
      env: { INTERSEBD_FLUSH_MS: "600000" },
      writer: "inline",
    });
    try {
      // The store goes away: the call can only be accepted into the recorder (202), not stored (201).
      await server.ctx.store.close();
      const r = await server.api<{ id: string; stored: boolean }>("/api/calls", {
        body: { id: "call_ingested", request: { model: "m", messages: [] }, response: null },
      });
      assert.equal(r.status, 202);
      // Nothing has been flushed yet (a 10-minute flush interval): the line was written before the answer.
      const spool = path.join(server.config.dataDir, "spool");
      const journaled = segments(spool).flatMap((f) =>
        lines(spool, f).map((l) => JSON.parse(l).id as string),
      );
      assert.deepEqual(journaled, ["call_ingested"], "a 202 means journaled: a SIGKILL now loses nothing");
    } finally {
      await server.stop().catch(() => {});
    }
  });

  for (const dialect of DIALECTS) {
    it(`replays a dead process's segments once at start, skipping a torn last line (${dialect})`, async (t) => {
      if (dialect === "postgres" && !(await postgresAvailable())) return t.skip("PostgreSQL unreachable");
      const fresh = await freshDatabase(dialect);
      const spool = path.join(fresh.dataDir, "spool");
      fs.mkdirSync(spool, { recursive: true });
      // A pid that is surely dead: a child that has exited.
      const dead = await new Promise<number>((resolve) => {
        const child = spawn(process.execPath, ["-e", ""]);
        child.on("exit", () => resolve(child.pid as number));
      });
      const rows = ["call_r1", "call_r2", "call_r3"].map(row);
      const text = rows.map((r) => JSON.stringify(r)).join("\n");
      // The kill came in the middle of the third call's write: half a line, no newline.
      fs.writeFileSync(path.join(spool, `answered-${dead}-1-0.jsonl`), `${text.slice(0, text.length - 40)}`);
      // The second segment repeats a stored call (killed after the commit, before the release): stored once.
      fs.writeFileSync(path.join(spool, `answered-${dead}-1-1.jsonl`), `${JSON.stringify(rows[0])}\n`);
      // A live process's segment (this test's own pid, another instance name would be an earlier process's;
      // the parent's pid is alive and not the server's) is left alone.
      const live = `answered-${process.ppid}-1-0.jsonl`;
      fs.writeFileSync(path.join(spool, live), `${JSON.stringify(row("call_live"))}\n`);
      const server = await startTestServer(dialect, { db: fresh.db, dataDir: fresh.dataDir });
      try {
        const ids = (await server.ctx.store.db.selectFrom("calls").select("id").orderBy("id").execute()).map(
          (r) => r.id,
        );
        assert.deepEqual(ids, ["call_r1", "call_r2"], "complete lines stored once; the torn line skipped");
        assert.deepEqual(segments(spool), [live], "replayed segments deleted; a live process's kept");
      } finally {
        await server.close();
        await fresh.drop();
      }
    });
  }
});
