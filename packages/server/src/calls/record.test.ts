import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { capturedCall } from "../testing/calls.ts";
import { type CapturedCall, storable, toCallRow } from "./record.ts";

const call = (over: Partial<CapturedCall> = {}): CapturedCall =>
  capturedCall({
    id: "call_1",
    startedAt: 1000,
    endedAt: 1100,
    path: "/v1/chat/completions",
    response: null,
    ...over,
  });

describe("storable rows", () => {
  it("replaces NUL with U+FFFD in every string column and every JSON string and key, in every capture mode", () => {
    const request = { model: "m\u0000", user: "u\u0000", messages: [{ role: "user", content: "a\u0000b" }] };
    const requestText = JSON.stringify(request);
    for (const capture of ["full", "redacted", "metadata"] as const) {
      const row = toCallRow(
        call({
          request,
          requestText,
          error: "e\u0000",
          tags: ["t\u0000"],
          metadata: { "k\u0000": "v\u0000" },
        }),
        capture,
      );
      const strings = Object.values(row).filter((v): v is string => typeof v === "string");
      for (const s of strings) {
        assert.ok(!s.includes("\u0000") && !s.includes("\\u0000"), `${capture}: ${s}`);
      }
      assert.equal(row.requestedModel, "m\ufffd");
      assert.equal(row.userId, "u\ufffd");
      assert.equal(row.error, "e\ufffd");
      assert.deepEqual(JSON.parse(row.tags as string), ["t\ufffd"]);
      assert.deepEqual(JSON.parse(row.metadata as string), { "k\ufffd": "v\ufffd" });
    }
    const full = toCallRow(call({ request, requestText }), "full");
    assert.equal(JSON.parse(full.request as string).messages[0].content, "a\ufffdb");
  });

  it("leaves an escaped backslash followed by u0000 as the text it is", () => {
    const text = JSON.stringify({ content: "\\u0000 and \\\u0000" });
    const row = storable({ ...toCallRow(call(), "full"), request: text });
    assert.deepEqual(JSON.parse(row.request as string), { content: "\\u0000 and \\\ufffd" });
  });

  it("returns a row without NUL unchanged", () => {
    const row = toCallRow(call(), "full");
    assert.deepEqual(storable({ ...row }), row);
  });
});
