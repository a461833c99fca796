import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { neighbours, queueOf, queueState } from "./annotate-queue.ts";

describe("annotate queue (j/k from the inbox)", () => {
  it("reads only a queue of annotate paths from history state", () => {
    assert.deepEqual(queueOf(queueState(["/a/x.1", "/a/y.2"])), ["/a/x.1", "/a/y.2"]);
    for (const state of [
      null,
      undefined,
      "x",
      {},
      { annotateQueue: [] },
      { annotateQueue: "/a/x" },
      { annotateQueue: ["/a/x", 3] },
      { annotateQueue: ["https://evil.example/a/x"] },
      { annotateQueue: ["/a//evil.example"] },
      { annotateQueue: ["/calls/x"] },
    ]) {
      assert.equal(queueOf(state), null, JSON.stringify(state));
    }
  });

  it("walks the inbox's order, wrapping around, and does nothing without a queue", () => {
    const q = ["/a/1", "/a/2", "/a/3"];
    assert.deepEqual(neighbours(q, "/a/2"), { next: "/a/3", previous: "/a/1", queue: q });
    assert.deepEqual(neighbours(q, "/a/3"), { next: "/a/1", previous: "/a/2", queue: q });
    assert.deepEqual(neighbours(q, "/a/1"), { next: "/a/2", previous: "/a/3", queue: q });
    assert.deepEqual(neighbours(null, "/a/1"), { next: null, previous: null, queue: [] }, "a mailed link");
    assert.equal(neighbours(q, "/a/elsewhere").next, null, "a page not in the queue");
    assert.equal(neighbours(["/a/1"], "/a/1").next, null, "alone");
  });

  it("drops an answered item, so the walk ends when all are done", () => {
    const q = ["/a/1", "/a/2", "/a/3"];
    assert.deepEqual(neighbours(q, "/a/2", true), {
      next: "/a/3",
      previous: "/a/1",
      queue: ["/a/1", "/a/3"],
    });
    assert.deepEqual(neighbours(q, "/a/3", true), {
      next: "/a/1",
      previous: "/a/2",
      queue: ["/a/1", "/a/2"],
    });
    const last = neighbours(["/a/1", "/a/2"], "/a/2", true);
    assert.deepEqual(last, { next: "/a/1", previous: "/a/1", queue: ["/a/1"] });
    assert.deepEqual(neighbours(last.queue, "/a/1", true), { next: null, previous: null, queue: [] });
  });
});
