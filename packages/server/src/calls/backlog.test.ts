/**
 * Calls answered while the write-behind queue is full wait in the answered journal, not in memory, and are read
 * back in order (calls/backlog.ts).
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, describe, it } from "node:test";
import { JournalBacklog } from "./backlog.ts";
import { AnsweredJournal } from "./journal.ts";

const lines: string[] = [];
const log = {
  debug() {},
  info: (s: string) => lines.push(`info ${s}`),
  warn: (s: string) => lines.push(`warn ${s}`),
  error: (s: string) => lines.push(`error ${s}`),
  child: () => log,
};
const dirs: string[] = [];
const tmp = () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "intersebd-backlog-"));
  dirs.push(dir);
  return dir;
};
after(() => {
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
});
/** The recorder's counters, as the backlog moves them. */
const counters = () => ({
  journalBacklog: {
    value: -1,
    set(v: number) {
      this.value = v;
    },
  },
  droppedRecords: {
    n: 0,
    inc(by = 1) {
      this.n += by;
    },
  },
});
const backlogOf = (journal: AnsweredJournal, metrics = counters()) =>
  new JournalBacklog(journal, 10, metrics, log);
const files = (dir: string) => fs.readdirSync(dir).filter((f) => f.startsWith("answered-"));
// Not ASCII, so that bytes and characters differ: the byte ranges must still cut whole lines.
const line = (i: number) =>
  JSON.stringify({ id: `call_${i}`, text: ["a", "é", "日本", "🙂"][i % 4]?.repeat(i % 7) });

describe("the journal backlog", () => {
  it("reads back every line once, oldest first, in takes of any size, across segments", () => {
    const dir = tmp();
    // Small segments: 200 lines span many files, and takes cross from one to the next.
    const journal = new AnsweredJournal({ dir, maxSegmentBytes: 500 }, log);
    const backlog = backlogOf(journal);
    for (let i = 0; i < 200; i++) assert.ok(backlog.add(`call_${i}`, line(i)));
    assert.equal(backlog.size, 200);
    assert.ok(files(dir).length > 10, `several segments: ${files(dir).length}`);
    const read: string[] = [];
    const sizes = [1, 7, 50, 3, 1000];
    for (const max of sizes) {
      const { lines: got, segments } = backlog.take(max);
      assert.ok(got.length <= max);
      assert.equal(segments.length, got.length, "a segment for each line, to release once stored");
      read.push(...got);
      for (const s of segments) s.release();
    }
    assert.deepEqual(
      read,
      Array.from({ length: 200 }, (_, i) => line(i)),
    );
    assert.equal(backlog.size, 0);
    assert.deepEqual(backlog.take(10).lines, [], "nothing more");
    journal.close();
    assert.deepEqual(files(dir), [], "every line released: every segment deleted");
  });

  it("keeps the journal's other lines apart: only what was added comes back", () => {
    const dir = tmp();
    const journal = new AnsweredJournal({ dir }, log);
    const backlog = backlogOf(journal);
    journal.appendLine(line(1)); // a call queued in memory, as the recorder does before the queue fills
    backlog.add("call_2", line(2));
    backlog.add("call_3", line(3));
    journal.appendLine(line(4)); // never in practice (the backlog goes first while it holds any), but possible
    backlog.add("call_5", line(5));
    assert.deepEqual(backlog.take(10).lines, [line(2), line(3), line(5)]);
  });

  it("reads a line longer than one read", () => {
    const dir = tmp();
    const journal = new AnsweredJournal({ dir }, log);
    const backlog = backlogOf(journal);
    const big = JSON.stringify({ id: "call_big", text: "x".repeat(3 * 1024 * 1024) });
    backlog.add("call_0", line(0));
    backlog.add("call_big", big);
    backlog.add("call_2", line(2));
    assert.deepEqual(backlog.take(1).lines, [line(0)]);
    assert.deepEqual(backlog.take(5).lines, [big, line(2)]);
  });

  it("keeps the lines on disk until they are released: a crash before they are stored loses none", () => {
    const dir = tmp();
    const journal = new AnsweredJournal({ dir, maxSegmentBytes: 300 }, log);
    const backlog = backlogOf(journal);
    for (let i = 0; i < 30; i++) backlog.add(`call_${i}`, line(i));
    backlog.take(30); // read back, handed to a writer, not yet stored
    journal.close(); // the process ends here
    const onDisk = files(dir).flatMap((f) =>
      fs.readFileSync(path.join(dir, f), "utf8").split("\n").filter(Boolean),
    );
    assert.deepEqual(onDisk.sort(), Array.from({ length: 30 }, (_, i) => line(i)).sort());
  });

  it("says that a segment could not be read, and goes on with the next", () => {
    const dir = tmp();
    const journal = new AnsweredJournal({ dir, maxSegmentBytes: 100 }, log);
    const backlog = backlogOf(journal);
    for (let i = 0; i < 6; i++) backlog.add(`call_${i}`, line(i));
    const [first] = files(dir).sort(
      (a, b) => Number(a.split("-").at(-1)?.split(".")[0]) - Number(b.split("-").at(-1)?.split(".")[0]),
    );
    fs.rmSync(path.join(dir, first as string));
    lines.length = 0;
    const { lines: got } = backlog.take(10);
    const lost = lines.filter((l) => l.startsWith("error "));
    assert.equal(lost.length, 1, lines.join("\n"));
    const count = Number(
      /cannot read back (\d+) calls from .*answered-.*; they stay in the journal/.exec(
        lost[0] as string,
      )?.[1],
    );
    assert.equal(got.length + count, 6, "every call read back or reported");
    assert.equal(backlog.size, 0);
  });
});

describe("what the operator hears of a full queue", () => {
  it("warns once when calls start to wait in the journal, says when they are all handed over, drops loudly once", () => {
    const metrics = counters();
    const journal = new AnsweredJournal({ dir: tmp() }, log);
    const backlog = backlogOf(journal, metrics);
    lines.length = 0;
    for (let i = 1; i <= 500; i++) assert.ok(backlog.add(`call_${i}`, line(i)));
    assert.equal(metrics.journalBacklog.value, 500);
    backlog.take(380);
    assert.equal(metrics.journalBacklog.value, 120);
    backlog.take(1000);
    assert.equal(metrics.journalBacklog.value, 0);
    for (let i = 0; i < 100; i++)
      backlog.dropped(`call_${i}`, "the recorder is closed (the server is stopping)");
    assert.equal(metrics.droppedRecords.n, 100, "every drop counted");
    assert.deepEqual(
      lines.map((l) => l.split(" ")[0]),
      ["warn", "info", "error"],
      `one line each, not one per call: ${lines.join("\n")}`,
    );
    assert.match(lines[0] as string, /queue full \(10 calls, INTERSEBD_QUEUE_MAX\).*none is dropped/);
    assert.match(lines[1] as string, /at most 500 waited/);
    assert.match(lines[2] as string, /call_0 was dropped: the recorder is closed/);
  });

  it("drops a call the journal cannot take, counted and logged once until one is kept again", () => {
    const metrics = counters();
    const journal = new AnsweredJournal({ dir: tmp() }, log);
    const backlog = backlogOf(journal, metrics);
    // A journal that cannot write (a full disk): it keeps nothing.
    journal.appendLine = () => undefined;
    lines.length = 0;
    for (let i = 0; i < 50; i++) assert.equal(backlog.add(`call_${i}`, line(i)), false);
    assert.equal(metrics.droppedRecords.n, 50);
    assert.equal(backlog.size, 0);
    assert.deepEqual(lines.length, 1, lines.join("\n"));
    assert.match(
      lines[0] as string,
      /^error call call_0 was dropped: the queue is full and the answered journal cannot be written/,
    );
  });
});
