import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { startTestServer, type TestServer } from "../testing/index.ts";

const MAIN = path.resolve(import.meta.dirname, "main.ts");

function run(args: string[], stdin = "") {
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    const child = execFile(
      process.execPath,
      [MAIN, "evaluators", ...args],
      { env: { ...process.env, INTERSEBD_LOG_LEVEL: "silent" } },
      (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
    child.stdin?.end(stdin);
  });
}

// The CLI talks to a server through its socket: its behaviour is the process's, so one dialect suffices.
describe("intersebd evaluators", () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer("sqlite");
  });
  after(async () => {
    await s?.stop();
  });

  it("creates from stdin, lists with counters, backfills; a bad rule exits 2 naming the field", async () => {
    const created = await run(
      ["create", "--file", "-", "--url", s.url],
      JSON.stringify({ name: "cli-rule", checks: ["regex:answer"], filter: { tags: ["cli"] } }),
    );
    assert.equal(created.code, 0, created.stderr);
    assert.match(created.stdout, /^cli-rule \(lev_[^)]+\): enabled, sample 1/);
    const bad = await run(
      ["create", "--file", "-", "--url", s.url],
      JSON.stringify({ name: "x", sample: 3 }),
    );
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /sample/);
    const t0 = Date.UTC(2024, 5, 1);
    const r = await s.api("/api/calls", {
      body: [1, 2, 3].map((i) => ({
        id: `cli-${i}`,
        startedAt: t0 + i,
        tags: ["cli"],
        request: { model: "m", messages: [{ role: "user", content: "q" }] },
        response: { choices: [{ index: 0, message: { role: "assistant", content: "answer" } }] },
      })),
    });
    assert.equal(r.status, 201);
    const backfilled = await run([
      "backfill",
      "cli-rule",
      "--from",
      new Date(t0).toISOString(),
      "--to",
      String(t0 + 10),
      "--url",
      s.url,
    ]);
    assert.equal(backfilled.code, 0, backfilled.stderr);
    // Stored live as they arrived (the rule existed): the backfill finds them queued or evaluated already.
    assert.match(backfilled.stdout, /^0 calls enqueued of 3 matching/);
    const listed = await run(["list", "--url", s.url]);
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, /cli-rule .*skipped by cap 0/);
    const missing = await run(["backfill", "cli-rule", "--url", s.url]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /--from is required/);
  });
});
