/**
 * The last line of defence: an error nothing caught is logged with its stack and counted, and the server keeps
 * serving. Tested on the handler, then on `intersebd serve` itself with errors provoked inside it.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { EventEmitter } from "node:events";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import {
  eventually,
  type FakeUpstream,
  freshDatabase,
  startFakeUpstream,
  startupLine,
} from "../testing/index.ts";
import { installLastDefence, lastDefence, type UncaughtKind } from "./last-defence.ts";
import { createLogger } from "./log.ts";

const BIN = path.resolve(import.meta.dirname, "../../bin/intersebd.js");

function counter() {
  const counts: Record<string, number> = {};
  const inc = ({ kind }: { kind: UncaughtKind }) => {
    counts[kind] = (counts[kind] ?? 0) + 1;
  };
  return { counts, inc };
}

describe("last line of defence", () => {
  it("logs the error with its stack at error level and counts it by kind", () => {
    const lines: string[] = [];
    const uncaughtErrors = counter();
    const handle = lastDefence({ log: createLogger("error", (l) => lines.push(l)), uncaughtErrors });
    handle(new TypeError("boom"), "exception");
    handle("a plain reason", "rejection");
    assert.deepEqual(uncaughtErrors.counts, { exception: 1, rejection: 1 });
    assert.equal(lines.length, 2);
    assert.match(lines[0] as string, / error uncaught exception .*TypeError: boom\\n {4}at /);
    assert.match(lines[1] as string, / error uncaught promise rejection .*: a plain reason\n$/);
  });

  it("still counts when logging itself throws, and does not throw", () => {
    const uncaughtErrors = counter();
    const handle = lastDefence({
      log: createLogger("error", () => {
        throw new Error("EPIPE");
      }),
      uncaughtErrors,
    });
    handle(new Error("x"), "exception");
    assert.deepEqual(uncaughtErrors.counts, { exception: 1 });
  });

  it("installs on both process events and removes itself", () => {
    const proc = new EventEmitter();
    const uncaughtErrors = counter();
    const remove = installLastDefence(
      { log: createLogger("silent"), uncaughtErrors },
      proc as unknown as NodeJS.Process,
    );
    proc.emit("uncaughtException", new Error("e"));
    proc.emit("unhandledRejection", new Error("r"), Promise.resolve());
    assert.deepEqual(uncaughtErrors.counts, { exception: 1, rejection: 1 });
    remove();
    assert.equal(proc.listenerCount("uncaughtException") + proc.listenerCount("unhandledRejection"), 0);
  });

  describe("in intersebd serve", () => {
    let fake: FakeUpstream;
    let dir: string;
    before(async () => {
      fake = await startFakeUpstream({ keepRequests: false });
      dir = fs.mkdtempSync(path.join(os.tmpdir(), "intersebd-last-defence-"));
    });
    after(async () => {
      await fake.close();
      fs.rmSync(dir, { recursive: true, force: true });
    });

    it("logs, counts and keeps serving after an uncaught exception and an unhandled rejection", async () => {
      // Loaded before the server: once serve has installed its handlers, throw from a timer and reject a
      // promise nobody awaits, as a bug in a socket or a background task would.
      const provoke = path.join(dir, "provoke.mjs");
      fs.writeFileSync(
        provoke,
        `const t = setInterval(() => {
  if (process.listenerCount("uncaughtException") === 0) return;
  clearInterval(t);
  setTimeout(() => { throw new Error("provoked exception"); }, 0);
  Promise.reject(new Error("provoked rejection"));
}, 5);
`,
      );
      const fresh = await freshDatabase("sqlite");
      const child = spawn(
        process.execPath,
        ["--import", provoke, BIN, "serve", "--port", "0", "--db", fresh.db, "--data-dir", fresh.dataDir],
        {
          env: { ...process.env, INTERSEBD_UPSTREAM: fake.url, INTERSEBD_LOG_LEVEL: "error" },
          stdio: ["ignore", "pipe", "pipe"],
        },
      );
      let stderr = "";
      child.stderr.on("data", (d: Buffer) => {
        stderr += d.toString();
      });
      const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
      try {
        const { base } = await startupLine(child);
        await eventually(
          () => stderr.includes("provoked exception") && stderr.includes("provoked rejection"),
          10_000,
          "both errors logged",
        );
        const lines = stderr.trim().split("\n");
        assert.ok(
          lines.some((l) => / error uncaught exception .*Error: provoked exception\\n {4}at /.test(l)),
          stderr,
        );
        assert.ok(
          lines.some((l) => / error uncaught promise rejection .*provoked rejection/.test(l)),
          stderr,
        );

        assert.equal((await fetch(`${base}/healthz`)).status, 200, "the API still answers");
        const chat = await fetch(`${base}/v1/chat/completions`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ model: "m", messages: [{ role: "user", content: "still here" }] }),
        });
        assert.equal(chat.status, 200, "the proxy still answers");
        const metrics = await fetch(`${base}/metrics`).then((r) => r.text());
        assert.match(metrics, /intersebd_uncaught_errors_total\{kind="exception"\} 1/);
        assert.match(metrics, /intersebd_uncaught_errors_total\{kind="rejection"\} 1/);
        child.kill("SIGTERM");
        assert.equal(await exited, 0, "and it still stops cleanly");
      } finally {
        child.kill("SIGKILL");
        await fresh.drop();
      }
    });
  });
});
