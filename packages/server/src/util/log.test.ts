import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createLogger, escapeControl } from "./log.ts";

describe("logger", () => {
  it("writes one line per event whatever the message holds: a path with \\n, \\r or NUL forges no line", () => {
    const lines: string[] = [];
    const log = createLogger("debug", (l) => lines.push(l));
    const decodedPath = "/v1/x\n2026-01-01T00:00:00.000Z error forged\r\u0000\u001b[31m\u2028end";
    log.error(`GET ${decodedPath}: boom`);
    log.info("plain message");
    assert.equal(lines.length, 2);
    for (const l of lines) {
      assert.equal(l.indexOf("\n"), l.length - 1, "exactly one newline, at the end");
      // biome-ignore lint/suspicious/noControlCharactersInRegex: no control character may be left
      assert.doesNotMatch(l.slice(0, -1), /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/);
    }
    assert.match(
      lines[0] as string,
      / error GET \/v1\/x\\n2026-01-01T00:00:00\.000Z error forged\\r\\u0000\\u001b\[31m\\u2028end: boom\n$/,
    );
    assert.match(lines[1] as string, / info {2}plain message\n$/);
  });

  it("keeps a stack trace on its line, readable", () => {
    const err = new Error("bad");
    const one = escapeControl(err.stack as string);
    assert.ok(!one.includes("\n"));
    assert.match(one, /^Error: bad\\n {4}at /);
  });

  it("leaves messages without control characters as they are", () => {
    const msg = "call call_1 set aside in /tmp/x/rejected-2026-01-01.jsonl (ünïcode, tab-free)";
    assert.equal(escapeControl(msg), msg);
  });

  it("writes nothing below its level", () => {
    const lines: string[] = [];
    const log = createLogger("warn", (l) => lines.push(l));
    log.info("hidden");
    log.debug("hidden");
    log.warn("shown");
    assert.equal(lines.length, 1);
  });
});
