import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { childLogger, createLogger, escapeControl, type Logger } from "./log.ts";

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

  it("text lines stay `<time> <level> <message>`: a child's fields are not printed", () => {
    const lines: string[] = [];
    const log = createLogger("info", (l) => lines.push(l));
    log.child?.({ component: "recorder", callId: "c_1" }).warn("queue full");
    assert.deepEqual(lines.length, 1);
    assert.match(lines[0] as string, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z warn {2}queue full\n$/);
  });
});

describe("logger, INTERSEBD_LOG_FORMAT=json", () => {
  const jsonLines = (level: Parameters<typeof createLogger>[0] = "debug") => {
    const lines: string[] = [];
    const log = createLogger(level, (l) => lines.push(l), "json");
    const parsed = () =>
      lines.map((l) => {
        assert.equal(l.indexOf("\n"), l.length - 1, "one object per line");
        return JSON.parse(l) as Record<string, unknown>;
      });
    return { log, lines, parsed };
  };

  it("writes one JSON object per line with level, time, component, ids and the message", () => {
    const { log, parsed } = jsonLines();
    const recorder = log.child?.({ component: "recorder" }) as Logger;
    recorder.warn("capture queue full; dropped a call", { callId: "call_01" });
    log.info("plain");
    const [a, b] = parsed();
    assert.equal(a?.level, "warn");
    assert.equal(a?.component, "recorder");
    assert.equal(a?.callId, "call_01");
    assert.equal(a?.msg, "capture queue full; dropped a call");
    assert.equal(typeof a?.pid, "number");
    assert.ok(!Number.isNaN(Date.parse(a?.time as string)) && /Z$/.test(a?.time as string), "ISO time");
    assert.equal(b?.level, "info");
    assert.equal(b?.component, undefined);
    assert.equal(b?.msg, "plain");
  });

  it("nests children, and fields given at the call win over the child's", () => {
    const { log, parsed } = jsonLines();
    const evals = childLogger(log, { component: "evals", run: "r1" });
    const worker = childLogger(evals, { item: 3 });
    worker.error("failed", { run: "r2" });
    assert.deepEqual(
      Object.fromEntries(Object.entries(parsed()[0] ?? {}).filter(([k]) => !["time", "pid"].includes(k))),
      { level: "error", component: "evals", run: "r2", item: 3, msg: "failed" },
    );
  });

  it("writes nothing below its level, and nothing at all when silent", () => {
    const warn = jsonLines("warn");
    warn.log.debug("hidden");
    warn.log.info("hidden");
    warn.log.warn("shown");
    warn.log.error("shown");
    assert.deepEqual(
      warn.parsed().map((l) => l.level),
      ["warn", "error"],
    );
    const silent = jsonLines("silent");
    silent.log.error("hidden");
    assert.equal(silent.lines.length, 0);
  });

  it("keeps a forged line, control characters and line separators inside the message, losslessly", () => {
    const { log, lines, parsed } = jsonLines();
    const msg = 'GET /v1/x\n{"level":"error","msg":"forged"}\r\u0000\u001b[31m\u0085\u2028\u2029"end';
    log.error(msg);
    assert.equal(lines.length, 1);
    // biome-ignore lint/suspicious/noControlCharactersInRegex: no control character may be left
    assert.doesNotMatch((lines[0] as string).slice(0, -1), /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/);
    assert.equal(parsed()[0]?.msg, msg);
  });

  it("a child of a hand-made logger (a test's) goes through that logger's own methods", () => {
    const said: string[] = [];
    const base: Logger = {
      error: () => {},
      warn: (m, f) => said.push(`${f?.component}: ${m}`),
      info: () => {},
      debug: () => {},
    };
    childLogger(base, { component: "live" }).warn("poll failed");
    const spread = { ...createLogger("silent"), warn: (m: string) => void said.push(m) };
    const child = spread.child?.({ component: "x" });
    assert.ok(child, "createLogger's loggers have child()");
    child.warn("through the override");
    assert.deepEqual(said, ["live: poll failed", "through the override"]);
  });
});
