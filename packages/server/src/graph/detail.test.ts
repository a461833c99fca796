/**
 * `GET /api/calls/{x}` finds a call by its id, its completion id, or any tag of it (a trace id, a span id, a custom
 * tag), the newest of the calls that carry a shared tag; anything else is a 404 that says what it looked for.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { DIALECTS, postgresAvailable, startTestServer, type TestServer } from "../testing/index.ts";

const call = (id: string, startedAt: string, extra: Record<string, unknown>) => ({
  id,
  startedAt,
  request: { model: "fake-model", messages: [{ role: "user", content: `question of ${id}` }] },
  response: {
    id: `chatcmpl-${id}`,
    choices: [{ index: 0, message: { role: "assistant", content: "answer" } }],
  },
  ...extra,
});

for (const dialect of DIALECTS) {
  describe(`a call's page by id, completion id or tag (${dialect})`, async () => {
    const skip = dialect === "postgres" && !(await postgresAvailable());
    let s: TestServer | undefined;
    before(async () => {
      if (skip) return;
      s = await startTestServer(dialect, { inProcess: true });
      const ingested = await s.api("/api/calls", {
        body: [
          call("call_old", "2026-12-01T10:00:00Z", {
            tags: ["trace-4bf92f3577b34da6", "span-00f067aa0ba902b7"],
          }),
          call("call_new", "2026-12-01T11:00:00Z", {
            tags: ["trace-4bf92f3577b34da6", "span-b7ad6b7169203331"],
          }),
        ],
      });
      assert.equal(ingested.status, 201, JSON.stringify(ingested.body));
    });
    after(() => s?.stop());

    const found = async (x: string) => {
      const r = await (s as TestServer).api<{ id: string }>(`/api/calls/${encodeURIComponent(x)}`);
      return r.status === 200 ? r.body.id : r.status;
    };

    it("should find a call by its id and by its completion id", { skip }, async () => {
      assert.equal(await found("call_old"), "call_old");
      assert.equal(await found("chatcmpl-call_old"), "call_old");
    });

    it("should find a call by a tag only it carries", { skip }, async () => {
      assert.equal(await found("span-00f067aa0ba902b7"), "call_old");
      assert.equal(await found("span-b7ad6b7169203331"), "call_new");
    });

    it("should answer the newest call for a tag several calls carry", { skip }, async () => {
      assert.equal(await found("trace-4bf92f3577b34da6"), "call_new");
    });

    it("should answer a 404 naming what it looked for", { skip }, async () => {
      const r = await (s as TestServer).api<{ error: { message: string } }>("/api/calls/nothing-here");
      assert.equal(r.status, 404);
      assert.equal(r.body.error.message, 'no call with id, completion id or tag "nothing-here"');
    });
  });
}
