/**
 * Short-lived processes: a child that awaits `shutdown()` delivers everything before it exits, and a child
 * that never flushes exits at once (no SDK timer holds the event loop). Children run the real package
 * (`import ... from "intersebd"`) with the default instance configured from the environment.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { startTestServer, type TestServer } from "@intersebd/server/testing";
import { type Body, uniqueTag } from "./helpers.ts";

const SDK_DIR = path.resolve(import.meta.dirname, "../../../packages/sdk");
/** Far longer than any test waits: a child still running then was kept alive by something. */
const KILL_AFTER_MS = 20_000;

interface ChildResult {
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
}

function runChild(code: string, env: Record<string, string>): Promise<ChildResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ["--input-type=module", "--no-warnings", "-e", code],
      { cwd: SDK_DIR, env: { ...process.env, ...env }, timeout: KILL_AFTER_MS, killSignal: "SIGKILL" },
      (err, stdout, stderr) => {
        const e = err as (Error & { code?: number | string; signal?: string }) | null;
        resolve({
          code: e ? (typeof e.code === "number" ? e.code : null) : 0,
          signal: e?.signal ?? null,
          stdout,
          stderr,
        });
      },
    );
  });
}

describe("Intersebd in a short-lived process", () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer("sqlite");
  });
  after(async () => {
    await server.stop();
  });

  it("delivers what it queued when the script awaits shutdown() before exiting", async () => {
    const key = uniqueTag("exit-flush");
    const child = await runChild(
      `import { intersebd } from "intersebd";
       intersebd.link({ upstreamTag: process.env.KEY + "-call", downstreamTag: process.env.KEY });
       intersebd.annotate({ annotationKey: process.env.KEY, numericReward: 1, comment: "from a child" });
       await intersebd.shutdown();
       console.log(JSON.stringify(intersebd.stats()));`,
      { INTERSEBD_URL: server.url, KEY: key },
    );
    assert.equal(child.signal, null, `child was killed: ${child.stderr}`);
    assert.equal(child.code, 0, child.stderr);
    assert.deepEqual(JSON.parse(child.stdout), { queued: 0, sent: 2, dropped: 0, failed: 0 });
    const r = await server.api<Body>(`/api/tags/${key}`);
    assert.equal(r.body.annotations[0]?.comment, "from a child");
    assert.deepEqual(
      r.body.upstreamLinks.map((l: Body) => l.upstreamTag),
      [`${key}-call`],
    );
  });

  it("exits at once when it never flushes: the flush timer does not keep the process alive", async () => {
    const key = uniqueTag("exit-idle");
    const child = await runChild(
      `import { Intersebd } from "intersebd";
       const sdk = new Intersebd({ flushIntervalMs: 600000 });
       sdk.annotate({ annotationKey: process.env.KEY, numericReward: 1 });
       console.log(sdk.stats().queued);`,
      { INTERSEBD_URL: server.url, KEY: key },
    );
    assert.equal(child.signal, null, "a pending flush timer kept the child alive until it was killed");
    assert.equal(child.code, 0, child.stderr);
    assert.equal(child.stdout.trim(), "1");
    const r = await server.api<Body>(`/api/tags/${key}`);
    assert.equal(r.body.annotations.length, 0, "the timer never fired: nothing was sent");
  });

  it("exits while a background retry is waiting: backoff timers do not keep the process alive", async () => {
    const gone = await startTestServer("sqlite");
    const url = gone.url;
    await gone.stop();
    const child = await runChild(
      `import { Intersebd } from "intersebd";
       const errors = [];
       const sdk = new Intersebd({ flushIntervalMs: 1, maxRetries: 50, onError: (e) => errors.push(e) });
       sdk.annotate({ annotationKey: "never-delivered", numericReward: 1 });
       setTimeout(() => console.log(JSON.stringify(sdk.stats())), 300);`,
      { INTERSEBD_URL: url },
    );
    assert.equal(child.signal, null, "a retry timer kept the child alive until it was killed");
    assert.equal(child.code, 0, child.stderr);
    assert.equal(JSON.parse(child.stdout).queued, 1, "the event was still being retried when the child left");
  });

  it("works where there is no `process` and the environment may not be read (edge, Deno)", async () => {
    const key = uniqueTag("exit-edge");
    const child = await runChild(
      `const node = globalThis.process;
       Object.defineProperty(globalThis, "process", { value: undefined, configurable: true, writable: true });
       globalThis.Deno = { env: { get() { throw new Error("PermissionDenied: requires env access"); } } };
       const { Intersebd, intersebd } = await import("intersebd");
       const sdk = new Intersebd({ baseURL: ${JSON.stringify(server.url)} });
       sdk.annotate({ annotationKey: ${JSON.stringify(key)}, numericReward: 1 });
       await sdk.flush();
       const out = { defaultEnabled: intersebd.enabled, stats: sdk.stats() };
       globalThis.process = node;
       node.stdout.write(JSON.stringify(out));`,
      {},
    );
    assert.equal(child.code, 0, child.stderr);
    assert.deepEqual(JSON.parse(child.stdout), {
      defaultEnabled: true,
      stats: { queued: 0, sent: 1, dropped: 0, failed: 0 },
    });
    const r = await server.api<Body>(`/api/tags/${key}`);
    assert.equal(r.body.annotations.length, 1);
  });

  it("reads INTERSEBD_ENABLED: the default instance is off and sends nothing", async () => {
    const key = uniqueTag("exit-disabled");
    const child = await runChild(
      `import { intersebd } from "intersebd";
       const before = intersebd.enabled;
       intersebd.annotate({ annotationKey: process.env.KEY, numericReward: 1 });
       await intersebd.shutdown();
       console.log(JSON.stringify({ before, stats: intersebd.stats() }));`,
      { INTERSEBD_URL: server.url, INTERSEBD_ENABLED: "false", KEY: key },
    );
    assert.equal(child.code, 0, child.stderr);
    assert.deepEqual(JSON.parse(child.stdout), {
      before: false,
      stats: { queued: 0, sent: 0, dropped: 0, failed: 0 },
    });
    const r = await server.api<Body>(`/api/tags/${key}`);
    assert.equal(r.body.annotations.length, 0);
  });
});
