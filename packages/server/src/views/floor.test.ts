/**
 * The floor view (`GET /api/floor`), in-process on each dialect: flagged calls listed newest first with their
 * flags, excerpts, checker and preview; clean verdicts and other annotations left out; the flag and time
 * filters; pages that join up without gaps or repeats; bad parameters answered 400 naming the field.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { DIALECTS, postgresAvailable, startTestServer, type TestServer } from "../testing/index.ts";
import type { FloorItem } from "./floor.ts";

// biome-ignore lint/suspicious/noExplicitAny: response bodies are read loosely in assertions
type Body = Record<string, any>;

const T0 = Date.UTC(2025, 5, 1, 12);

/** Call i starts at T0 + i minutes; its floor verdict is below (flags, checker), or clean when empty. */
const VERDICTS: Array<{ flags: string[]; checker: "moderation" | "judge" }> = [
  { flags: ["violence"], checker: "moderation" },
  { flags: [], checker: "judge" },
  { flags: ["suggests meeting in real life", "errors"], checker: "judge" },
  { flags: ["hate speech"], checker: "moderation" },
  // The excerpt quotes another flag's name: the flag filter must not take it for that flag.
  { flags: ["errors"], checker: "judge" },
  { flags: ["violence", "self-harm"], checker: "judge" },
];

for (const dialect of DIALECTS) {
  describe(`GET /api/floor (${dialect})`, async () => {
    const skip = dialect === "postgres" && !(await postgresAvailable());
    let s: TestServer;

    before(async () => {
      if (skip) return;
      s = await startTestServer(dialect, { inProcess: true });
      const calls = VERDICTS.map((_, i) => ({
        id: `fl-${i}`,
        startedAt: T0 + i * 60_000,
        endedAt: T0 + i * 60_000 + 100,
        upstream: "default",
        userId: `u${i}`,
        request: { model: "gpt-4.1-nano", messages: [{ role: "user", content: `question ${i}` }] },
        response: {
          object: "chat.completion",
          model: "gpt-4.1-nano",
          choices: [
            { index: 0, message: { role: "assistant", content: `answer ${i}` }, finish_reason: "stop" },
          ],
        },
      }));
      assert.equal((await s.api("/api/calls", { body: calls })).status, 201);
      const annotations = VERDICTS.map((v, i) => ({
        id: `flr-${i}`,
        annotationKey: `fl-${i}`,
        name: "floor",
        numericReward: v.flags.length ? 0 : 1,
        source: v.checker === "moderation" ? "code" : "judge",
        data: {
          flags: v.flags,
          excerpts: Object.fromEntries(
            v.flags.map((f) => [f, i === 4 ? `the "violence" word in answer ${i}` : `${f} in answer ${i}`]),
          ),
          checker: v.checker,
          check: v.checker === "moderation" ? "moderation" : "floor",
          ...(i === 5 ? { evaluator: "prod-floor" } : {}),
        },
        comment: v.flags.length ? `flagged: ${v.flags.join(", ")}` : "clean",
      }));
      // Not floor verdicts: a failed check of another name, and a reward of 0.
      annotations.push(
        {
          id: "other-1",
          annotationKey: "fl-1",
          name: "check:json",
          numericReward: 0,
          source: "code",
        } as never,
        { id: "other-2", annotationKey: "fl-1", name: "reward", numericReward: 0, source: "human" } as never,
      );
      assert.equal((await s.api("/api/annotations", { body: annotations })).status, 201);
    });
    after(async () => {
      await s?.stop();
    });

    it("should list flagged calls newest first with flags, excerpts, checker and preview", {
      skip,
    }, async () => {
      const r = await s.api<Body>("/api/floor");
      assert.equal(r.status, 200, JSON.stringify(r.body));
      const data = r.body.data as FloorItem[];
      assert.deepEqual(
        data.map((d) => d.callId),
        ["fl-5", "fl-4", "fl-3", "fl-2", "fl-0"],
      );
      assert.equal(r.body.nextCursor, null);
      const first = data[0] as FloorItem;
      assert.deepEqual(first.flags, ["violence", "self-harm"]);
      assert.deepEqual(first.excerpts, {
        violence: "violence in answer 5",
        "self-harm": "self-harm in answer 5",
      });
      assert.equal(first.checker, "judge");
      assert.equal(first.evaluator, "prod-floor");
      assert.equal(first.check, "floor");
      assert.equal(first.reason, "flagged: violence, self-harm");
      assert.equal(first.call.startedAt, new Date(T0 + 5 * 60_000).toISOString());
      assert.equal(first.call.model, "gpt-4.1-nano");
      assert.equal(first.call.userId, "u5");
      assert.match(first.call.previewInput ?? "", /question 5/);
      assert.match(first.call.previewOutput ?? "", /answer 5/);
      const mod = data.find((d) => d.callId === "fl-3") as FloorItem;
      assert.equal(mod.checker, "moderation");
      assert.equal(mod.evaluator, null);
    });

    it("should filter by flag, ignoring case, and by the call's start", { skip }, async () => {
      const byFlag = async (q: string) =>
        ((await s.api<Body>(`/api/floor?${q}`)).body.data as FloorItem[]).map((d) => d.callId);
      assert.deepEqual(await byFlag("flag=violence"), ["fl-5", "fl-0"], "fl-4 only quotes the word");
      assert.deepEqual(await byFlag("flag=ERRORS"), ["fl-4", "fl-2"]);
      assert.deepEqual(await byFlag(`flag=${encodeURIComponent("suggests meeting in real life")}`), ["fl-2"]);
      assert.deepEqual(await byFlag("flag=nothing"), []);
      const from = new Date(T0 + 2 * 60_000).toISOString();
      assert.deepEqual(await byFlag(`from=${encodeURIComponent(from)}&to=${T0 + 5 * 60_000}`), [
        "fl-4",
        "fl-3",
        "fl-2",
      ]);
      assert.deepEqual(await byFlag(`flag=violence&to=${T0 + 60_000}`), ["fl-0"]);
    });

    it("should page without gaps or repeats, with and without a flag", { skip }, async () => {
      for (const [q, expected] of [
        ["", ["fl-5", "fl-4", "fl-3", "fl-2", "fl-0"]],
        ["flag=violence&", ["fl-5", "fl-0"]],
      ] as const) {
        const seen: string[] = [];
        let cursor: string | null = null;
        let pages = 0;
        do {
          const r: { status: number; body: Body } = await s.api<Body>(
            `/api/floor?${q}limit=2${cursor ? `&cursor=${cursor}` : ""}`,
          );
          assert.equal(r.status, 200);
          assert.ok(r.body.data.length <= 2);
          seen.push(...(r.body.data as FloorItem[]).map((d) => d.callId));
          cursor = r.body.nextCursor;
          pages++;
        } while (cursor && pages < 10);
        assert.deepEqual(seen, expected, q);
      }
    });

    it("should answer 400 naming the field for a bad cursor, time or limit", { skip }, async () => {
      for (const [q, field] of [
        ["cursor=nope", "cursor"],
        ["from=yesterday", "from"],
        ["limit=0", "limit"],
      ]) {
        const r = await s.api<Body>(`/api/floor?${q}`);
        assert.equal(r.status, 400, q);
        assert.equal(r.body.error?.field ?? r.body.field, field, JSON.stringify(r.body));
      }
    });
  });
}
