/**
 * `intersebd serve` with INTERSEBD_LOG_FORMAT=json, as deployed (its bin, a real socket): everything it writes is
 * JSON lines with level, time and component, each proxied call has a line with its id, and no credential, prompt
 * or clear user id sent through it appears in its output.
 */
import assert from "node:assert/strict";
import type { ChildProcessWithoutNullStreams } from "node:child_process";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import {
  DIALECTS,
  eventually,
  type FakeUpstream,
  freshDatabase,
  postgresAvailable,
  SERVER_BIN,
  spawnServe,
  startFakeUpstream,
} from "../testing/index.ts";

type Line = Record<string, unknown>;

/** Resolves with the base URL once the `listening` line is on stderr; the output so far is the error on exit. */
function listening(child: ChildProcessWithoutNullStreams, out: { text: string }): Promise<string> {
  return new Promise((resolve, reject) => {
    child.stderr.on("data", () => {
      for (const l of out.text.split("\n")) {
        if (!l.startsWith("{")) continue;
        const line = JSON.parse(l) as Line;
        if (line.msg === "listening") resolve(line.url as string);
      }
    });
    child.on("exit", () => reject(new Error(out.text)));
  });
}

describe("INTERSEBD_LOG_FORMAT=json through `intersebd serve`", () => {
  let fake: FakeUpstream;
  before(async () => {
    fake = await startFakeUpstream();
  });
  after(async () => {
    await fake.close();
  });

  for (const dialect of DIALECTS) {
    it(`writes only JSON lines, one per proxied call with its id, and no secret, prompt or user id (${dialect})`, async (t) => {
      if (dialect === "postgres" && !(await postgresAvailable())) return t.skip("PostgreSQL unreachable");
      const fresh = await freshDatabase(dialect);
      const secrets = {
        apiKey: `isk-${randomUUID()}`,
        upstreamKey: `sk-upstream-${randomUUID()}`,
        clientKey: `sk-client-${randomUUID()}`,
        prompt: `prompt-${randomUUID()}`,
        userId: `user-${randomUUID()}`,
        sessionId: `session-${randomUUID()}`,
      };
      const out = { text: "" };
      const child = spawnServe(SERVER_BIN, fresh, {
        INTERSEBD_UPSTREAM: fake.url,
        INTERSEBD_UPSTREAM_KEY: secrets.upstreamKey,
        INTERSEBD_API_KEY: secrets.apiKey,
        INTERSEBD_LOG_FORMAT: "json",
        INTERSEBD_LOG_LEVEL: "debug",
        INTERSEBD_FLUSH_MS: "5",
      });
      child.stdout.on("data", (d: Buffer) => {
        out.text += d.toString();
      });
      child.stderr.on("data", (d: Buffer) => {
        out.text += d.toString();
      });
      const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
      try {
        const base = await listening(child, out);
        const headers = {
          "content-type": "application/json",
          "x-intersebd-key": secrets.apiKey,
          authorization: `Bearer ${secrets.clientKey}`,
          "x-intersebd-user-id": secrets.userId,
          "x-intersebd-session-id": secrets.sessionId,
        };
        const body = (stream: boolean) =>
          JSON.stringify({
            model: "gpt-4o-mini",
            stream,
            user: secrets.userId,
            messages: [{ role: "user", content: secrets.prompt }],
          });
        const chat = (stream: boolean, extra: Record<string, string> = {}) =>
          fetch(`${base}/v1/chat/completions`, {
            method: "POST",
            headers: { ...headers, ...extra },
            body: body(stream),
          });
        const answers = [await chat(false), await chat(true), await chat(false, { "x-fake-status": "500" })];
        assert.deepEqual(
          answers.map((r) => r.status),
          [200, 200, 500],
        );
        await Promise.all(answers.map((r) => r.text()));
        const callIds = answers.map((r) => r.headers.get("x-intersebd-call-id") as string);
        // Refused requests and an API 404 go through the same logger.
        const refused = await fetch(`${base}/v1/chat/completions`, {
          method: "POST",
          headers: { ...headers, "x-intersebd-key": `wrong-${secrets.apiKey}` },
          body: body(false),
        });
        assert.equal(refused.status, 401);
        await refused.text();
        await eventually(
          async () => {
            const r = await fetch(`${base}/api/calls?limit=10`, {
              headers: { "x-intersebd-key": secrets.apiKey },
            });
            return ((await r.json()) as { data: unknown[] }).data.length === 3;
          },
          10_000,
          "the three calls stored",
        );
        child.kill("SIGTERM");
        assert.equal(await exited, 0);

        const lines = out.text.split("\n").filter((l) => l !== "");
        const parsed = lines.map((l): Line => {
          assert.ok(l.startsWith("{") && l.endsWith("}"), `not a JSON line: ${l}`);
          return JSON.parse(l) as Line;
        });
        for (const line of parsed) {
          assert.ok(["error", "warn", "info", "debug"].includes(line.level as string), JSON.stringify(line));
          assert.ok(!Number.isNaN(Date.parse(line.time as string)), JSON.stringify(line));
          assert.equal(typeof line.msg, "string");
          assert.equal(
            typeof line.component,
            "string",
            `every line names its component: ${JSON.stringify(line)}`,
          );
        }
        const ofCalls = parsed.filter((l) => l.component === "proxy" && l.msg === "call");
        assert.deepEqual(
          ofCalls.map((l) => l.callId),
          callIds,
          "one line per proxied call, with its id",
        );
        assert.deepEqual(
          ofCalls.map((l) => [l.status, l.outcome, l.upstream, l.model]),
          [
            [200, "ok", "default", "gpt-4o-mini"],
            [200, "ok", "default", "gpt-4o-mini"],
            [500, "upstream_error", "default", "gpt-4o-mini"],
          ],
        );
        assert.ok(parsed.some((l) => l.component === "serve" && /draining/.test(l.msg as string)));
        for (const [what, value] of Object.entries(secrets)) {
          assert.ok(!out.text.includes(value), `the ${what} appears in the log output`);
        }
      } finally {
        child.kill("SIGKILL");
        await fresh.drop();
      }
    });
  }
});
