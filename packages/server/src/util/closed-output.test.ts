/**
 * `intersebd serve` whose output nobody reads any more (`intersebd serve | head`, a log collector that died): it
 * keeps proxying, and SIGTERM still stops it cleanly. Before installLastDefence quieted the streams, every log line
 * failed with EPIPE, the failure was an uncaught exception whose own log line failed again, and the process spun on
 * that and ignored SIGTERM.
 */
import assert from "node:assert/strict";
import { once } from "node:events";
import { describe, it } from "node:test";
import { freshDatabase, SERVER_BIN, spawnServe, startupLine } from "../testing/index.ts";

describe("serve with its stdout and stderr closed", () => {
  it("keeps answering and stops on SIGTERM", async () => {
    const fresh = await freshDatabase("sqlite");
    // An upstream nobody listens on: each proxied request fails and logs a line, which the closed pipe refuses.
    const child = spawnServe(SERVER_BIN, fresh, { INTERSEBD_UPSTREAM_URL: "http://127.0.0.1:9/v1" });
    try {
      const { base } = await startupLine(child);
      child.stdout.destroy();
      child.stderr.destroy();
      for (let i = 0; i < 5; i++) {
        const r = await fetch(`${base}/v1/chat/completions`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ model: "m", messages: [{ role: "user", content: "hi" }] }),
        });
        assert.equal(r.status, 502, "the proxy answers the refused upstream as it always does");
        await r.arrayBuffer();
      }
      const health = await fetch(`${base}/healthz`);
      assert.equal(health.status, 200);
      child.kill("SIGTERM");
      const exited = once(child, "exit");
      const timeout = new Promise((resolve) => setTimeout(resolve, 10_000, "timeout")).then(() => "timeout");
      const result = await Promise.race([exited, timeout]);
      assert.notEqual(result, "timeout", "SIGTERM did not stop the server within 10 s");
      assert.deepEqual(result, [0, null], "a clean exit");
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      await fresh.drop();
    }
  });
});
