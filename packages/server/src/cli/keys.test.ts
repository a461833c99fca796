/**
 * `intersebd keys` against a running server: create prints the secret once, which then works as a key; list
 * shows no secret; revoke makes the key refused.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { startTestServer, type TestServer } from "../testing/harness.ts";

const MAIN = path.resolve(import.meta.dirname, "main.ts");
const ADMIN = "test-key-keys-cli";

function run(args: string[], env: Record<string, string>) {
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(
      process.execPath,
      [MAIN, "keys", ...args],
      { cwd: os.tmpdir(), env: { ...process.env, INTERSEBD_LOG_LEVEL: "silent", ...env } },
      (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describe("intersebd keys (CLI)", () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer("sqlite", { env: { INTERSEBD_API_KEY: ADMIN } });
  });
  after(async () => {
    await s.stop();
  });
  const cli = (args: string[], key = ADMIN) => run([...args, "--url", s.url], { INTERSEBD_API_KEY: key });

  it("creates a key whose secret works once printed, lists it without the secret, and revokes it", async () => {
    const created = await cli(["create", "--name", "checkout", "--scope", "ingest", "--scope", "read"]);
    assert.equal(created.code, 0, created.stderr);
    const secret = /^(isk_\S+)$/m.exec(created.stdout)?.[1];
    assert.ok(secret, created.stdout);
    const id = /created (key_\w+)/.exec(created.stdout)?.[1];
    assert.ok(id, created.stdout);
    const read = await s.api("/api/calls", { headers: { "x-intersebd-key": secret } });
    assert.equal(read.status, 200);

    const listed = await cli(["list"]);
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, new RegExp(id));
    assert.match(listed.stdout, /ingest, read/);
    assert.ok(!listed.stdout.includes(secret), "list printed a secret");

    // A read key may not manage keys: the server's 403 names the scope.
    const refused = await cli(["list"], secret);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /admin/);

    const revoked = await cli(["revoke", id]);
    assert.equal(revoked.code, 0, revoked.stderr);
    assert.equal((await s.api("/api/calls", { headers: { "x-intersebd-key": secret } })).status, 401);
  });

  it("refuses an unknown scope as a usage error", async () => {
    const r = await cli(["create", "--name", "x", "--scope", "everything"]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /"ingest"|"read"|"annotate"|"admin"/);
  });
});
