/**
 * Notifications end to end on every dialect: notify → signed link → the annotation page's data → answers become
 * human annotations on the call and the item is done; tampered, unknown, expired and revoked links are refused
 * with clear messages; a link opens its one item and nothing else, and answers as its recipient only; the inbox
 * (paging, counts, statuses); rubrics (built-in default, the app's
 * PUT with field-naming errors, the rubrics file); link keys that survive a restart.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, describe, it } from "node:test";
import { chatCallBody } from "../testing/calls.ts";
import {
  DIALECTS,
  freshDatabase,
  postgresAvailable,
  serverForSuite,
  startTestServer,
  type TestServer,
} from "../testing/harness.ts";
import { readRubricsFile } from "./rubrics.ts";
import { signToken, verifyToken } from "./tokens.ts";

const API_KEY = "test-key-0123456789";
const TOKEN_SECRET = "a-token-secret-for-tests-only";

interface ErrorOut {
  error: { message: string; field: string | null; code: string };
}
interface NotificationOut {
  id: string;
  completionId: string;
  recipient: string;
  message: string | null;
  rubric: string;
  status: string;
  createdAt: string;
  expiresAt: string;
  doneAt: string | null;
  revokedAt: string | null;
  metadata: Record<string, unknown> | null;
  delivery: unknown;
  url: string;
  preview?: { callId: string; input: string | null; output: string | null } | null;
}
interface AnnotationOut {
  id: string;
  annotationKey: string;
  name: string;
  numericReward: number | null;
  content: unknown;
  comment: string | null;
  correction: unknown;
  source: string;
  annotatorId: string | null;
  notificationId: string | null;
}
interface ItemOut {
  message: string | null;
  status: string;
  expiresAt: string;
  doneAt: string | null;
}
interface TaskOut {
  notification: ItemOut;
  conversation: {
    messages: Array<{ role: string; content: unknown }> | null;
    choices: Array<{
      index: number;
      message: { role: string; content: unknown };
      finish_reason: string | null;
    }> | null;
  } | null;
  rubric: { name: string; description?: string; fields: Array<{ name: string; type: string }> };
}
interface AnswerOut {
  notification: ItemOut;
  answered: string[];
  unchanged: string[];
}
interface InboxOut {
  data: NotificationOut[];
  nextCursor: string | null;
  counts: { open: number; done: number };
}

const tokenOf = (url: string) => {
  const i = url.indexOf("/a/");
  assert.ok(i > 0, `not an annotation link: ${url}`);
  return url.slice(i + 3);
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `s.api` with the API key. */
function keyed(s: TestServer) {
  return <T>(pathname: string, init: { method?: string; body?: unknown } = {}) =>
    s.api<T>(pathname, { ...init, headers: { "x-intersebd-key": API_KEY } });
}

/** The human annotations one notification's answers became, read with the API key. */
async function answersOf(
  s: TestServer,
  tag: string,
  notificationId: string,
): Promise<Map<string, AnnotationOut>> {
  const r = await keyed(s)<{ annotations: AnnotationOut[] }>(`/api/tags/${encodeURIComponent(tag)}`);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return new Map(
    r.body.annotations.filter((a) => a.notificationId === notificationId).map((a) => [a.name, a]),
  );
}

async function notifyOne(s: TestServer, body: Record<string, unknown>): Promise<NotificationOut> {
  const r = await keyed(s)<NotificationOut>("/api/notifications", { body });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body;
}

function assertError(
  r: { status: number; body: unknown },
  status: number,
  pattern: RegExp,
  field?: string | null,
) {
  const body = r.body as ErrorOut;
  assert.equal(r.status, status, JSON.stringify(r.body));
  assert.match(body.error?.message ?? "", pattern);
  if (field !== undefined) assert.equal(body.error.field, field);
}

for (const dialect of DIALECTS) {
  describe(`notifications on ${dialect}`, () => {
    const server = serverForSuite(
      dialect,
      { INTERSEBD_API_KEY: API_KEY, INTERSEBD_TOKEN_SECRET: TOKEN_SECRET },
      { inProcess: true },
    );

    it("notify answers with the notification and a link that opens it without an API key", async (t) => {
      const s = server(t);
      if (!s) return;
      const n = await notifyOne(s, {
        completionId: "chatcmpl-open-1",
        sendNotificationTo: "ana",
        message: "Was this right?",
        metadata: { ticket: 42 },
      });
      assert.match(n.id, /^ntf_/);
      assert.equal(n.recipient, "ana");
      assert.equal(n.status, "open");
      assert.equal(n.rubric, "default");
      assert.deepEqual(n.metadata, { ticket: 42 });
      assert.equal(n.delivery, null, "no webhook configured: no delivery");
      assert.ok(n.url.startsWith(`${s.url}/a/`), n.url);
      const days = (Date.parse(n.expiresAt) - Date.parse(n.createdAt)) / 86400_000;
      assert.equal(days, 7, "default link lifetime is INTERSEBD_TOKEN_TTL_SECONDS (7 days)");

      // The token is the credential: no key needed, and the key-protected API still refuses without one.
      const noKey = await s.api<TaskOut>(`/api/a/${tokenOf(n.url)}`);
      assert.equal(noKey.status, 200, JSON.stringify(noKey.body));
      assert.deepEqual(noKey.body.notification, {
        message: "Was this right?",
        status: "open",
        expiresAt: n.expiresAt,
        doneAt: null,
      });
      assert.equal(noKey.body.conversation, null, "the call is not stored yet");
      assert.equal(noKey.body.rubric.name, "default");
      assert.deepEqual(
        noKey.body.rubric.fields.map((f) => [f.name, f.type]),
        [
          ["reward", "boolean"],
          ["comment", "text"],
          ["correction", "correction"],
        ],
      );
      assertError(await s.api(`/api/notifications/${n.id}`), 401, /API key/);

      const got = await keyed(s)<NotificationOut>(`/api/notifications/${n.id}`);
      assert.equal(got.status, 200);
      assert.equal(got.body.url, n.url, "the same link every time");

      // Once the call is stored, the page shows it.
      const ingest = await keyed(s)("/api/calls", {
        body: chatCallBody("call_open_1", { completionId: "chatcmpl-open-1" }),
      });
      assert.equal(ingest.status, 201, JSON.stringify(ingest.body));
      const withCall = await s.api<TaskOut>(`/api/a/${tokenOf(n.url)}`);
      assert.deepEqual(withCall.body.conversation, {
        messages: [{ role: "user", content: "question call_open_1" }],
        choices: [
          { index: 0, message: { role: "assistant", content: "answer call_open_1" }, finish_reason: "stop" },
        ],
      });
    });

    it("a notification on a downstream tag opens the call it links back to", async (t) => {
      const s = server(t);
      if (!s) return;
      await keyed(s)("/api/calls", {
        body: chatCallBody("call_down_1", { completionId: "chatcmpl-down-1" }),
      });
      const link = await keyed(s)("/api/links", {
        body: { upstreamTag: "chatcmpl-down-1", downstreamTag: "reply-down-1" },
      });
      assert.equal(link.status, 201);
      const n = await notifyOne(s, { completionId: "reply-down-1", sendNotificationTo: "ana" });
      const task = await s.api<TaskOut>(`/api/a/${tokenOf(n.url)}`);
      assert.equal(task.status, 200);
      assert.deepEqual(task.body.conversation?.messages, [{ role: "user", content: "question call_down_1" }]);
    });

    it("answers become human annotations by the recipient on the call, and the item is done", async (t) => {
      const s = server(t);
      if (!s) return;
      await keyed(s)("/api/calls", { body: chatCallBody("call_ans_1", { completionId: "chatcmpl-ans-1" }) });
      const n = await notifyOne(s, { completionId: "chatcmpl-ans-1", sendNotificationTo: "bruno" });
      const token = tokenOf(n.url);
      const r = await s.api<AnswerOut>(`/api/a/${token}/answers`, {
        body: { answers: { reward: false, comment: "wrong city", correction: "Lisbon." } },
      });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      assert.equal(r.body.notification.status, "done");
      assert.ok(r.body.notification.doneAt);
      assert.deepEqual(r.body.answered, ["reward", "comment", "correction"]);
      assert.deepEqual(r.body.unchanged, []);
      assert.deepEqual(Object.keys(r.body).sort(), ["answered", "notification", "unchanged"]);
      const byName = await answersOf(s, "chatcmpl-ans-1", n.id);
      assert.equal(byName.get("reward")?.numericReward, 0, "thumbs down is 0");
      assert.equal(byName.get("comment")?.comment, "wrong city");
      assert.equal(byName.get("correction")?.correction, "Lisbon.");
      for (const a of byName.values()) {
        assert.equal(a.source, "human");
        assert.equal(a.annotatorId, "bruno");
        assert.equal(a.notificationId, n.id);
        assert.equal(a.annotationKey, "chatcmpl-ans-1");
      }

      // They resolve to the call like any annotation.
      const call = await keyed(s)<{ annotations: AnnotationOut[] }>("/api/calls/call_ans_1");
      const human = call.body.annotations.filter((a) => a.notificationId === n.id);
      assert.deepEqual(human.map((a) => a.name).sort(), ["comment", "correction", "reward"]);

      // Re-submitting stores nothing twice and changes no earlier answer; a new field is still added.
      const again = await s.api<AnswerOut>(`/api/a/${token}/answers`, {
        body: { answers: { reward: true } },
      });
      assert.equal(again.status, 201, JSON.stringify(again.body));
      assert.deepEqual(again.body.unchanged, ["reward"]);
      assert.equal(
        (await answersOf(s, "chatcmpl-ans-1", n.id)).get("reward")?.numericReward,
        0,
        "the first answer stands",
      );
      const later = await keyed(s)<{ annotations: AnnotationOut[] }>("/api/calls/call_ans_1");
      assert.equal(later.body.annotations.filter((a) => a.notificationId === n.id).length, 3);

      const inbox = await keyed(s)<InboxOut>("/api/notifications?recipient=bruno&status=done");
      assert.deepEqual(
        inbox.body.data.map((x) => x.id),
        [n.id],
      );
      assert.deepEqual(inbox.body.counts, { open: 0, done: 1 });
    });

    it("answers only as the link's recipient: an annotatorId in the body is a 400 naming it", async (t) => {
      const s = server(t);
      if (!s) return;
      const n = await notifyOne(s, { completionId: "chatcmpl-ann-id", sendNotificationTo: "team-inbox" });
      for (const annotatorId of ["carla", "team-inbox", "", null]) {
        const refused = await s.api(`/api/a/${tokenOf(n.url)}/answers`, {
          body: { answers: { reward: true }, annotatorId },
        });
        assertError(refused, 400, /annotatorId.*recorded as the person it was sent to/, "annotatorId");
      }
      assert.equal((await answersOf(s, "chatcmpl-ann-id", n.id)).size, 0, "nothing stored by the refusals");
      const r = await s.api<AnswerOut>(`/api/a/${tokenOf(n.url)}/answers`, {
        body: { answers: { reward: true } },
      });
      assert.equal(r.status, 201);
      const reward = (await answersOf(s, "chatcmpl-ann-id", n.id)).get("reward");
      assert.equal(reward?.annotatorId, "team-inbox");
      assert.equal(reward?.numericReward, 1, "a thumbs up is 1");
    });

    it("a link opens its one item and nothing else: no other items, reviewers, ids, metadata or links", async (t) => {
      const s = server(t);
      if (!s) return;
      await keyed(s)("/api/calls", {
        body: chatCallBody("call_scope_1", {
          // Texts that do not repeat the call's ids, so that any id in the answer is a leak.
          request: { model: "gpt-4o-mini", messages: [{ role: "user", content: "What is 2+2?" }] },
          response: {
            id: "chatcmpl-scope-1",
            object: "chat.completion",
            model: "gpt-4o-mini",
            choices: [{ index: 0, message: { role: "assistant", content: "4" }, finish_reason: "stop" }],
          },
          sessionId: "sess-secret-scope",
          userId: "user-secret-scope",
          tags: ["tag-secret-scope"],
          metadata: { tenant: "meta-secret-scope" },
        }),
      });
      await keyed(s)("/api/links", {
        body: {
          upstreamTag: "chatcmpl-scope-1",
          downstreamTag: "reply-secret-scope",
          metadata: { k: "link-meta" },
        },
      });
      await keyed(s)("/api/annotations", {
        body: {
          annotationKey: "chatcmpl-scope-1",
          numericReward: 0,
          comment: "another reviewer's comment-secret-scope",
          source: "human",
          annotatorId: "reviewer-secret-scope",
        },
      });
      const n = await notifyOne(s, {
        completionId: "chatcmpl-scope-1",
        sendNotificationTo: "scope-user",
        message: "Judge this one",
        metadata: { ticket: "ntf-meta-secret-scope" },
      });
      // The recipient's other open items, whose tokens the page used to hand out for j/k.
      const others = [
        await notifyOne(s, { completionId: "chatcmpl-scope-2", sendNotificationTo: "scope-user" }),
        await notifyOne(s, { completionId: "chatcmpl-scope-3", sendNotificationTo: "scope-user" }),
      ];
      const task = await s.api<TaskOut>(`/api/a/${tokenOf(n.url)}`);
      assert.equal(task.status, 200, JSON.stringify(task.body));
      assert.deepEqual(Object.keys(task.body).sort(), ["conversation", "notification", "rubric"]);
      assert.deepEqual(Object.keys(task.body.notification).sort(), [
        "doneAt",
        "expiresAt",
        "message",
        "status",
      ]);
      assert.deepEqual(Object.keys(task.body.conversation ?? {}).sort(), ["choices", "messages"]);
      assert.deepEqual(Object.keys(task.body.rubric).sort(), ["description", "fields", "name"]);
      assert.equal(task.body.notification.message, "Judge this one");
      assert.deepEqual(task.body.conversation?.messages, [{ role: "user", content: "What is 2+2?" }]);
      const text = JSON.stringify(task.body);
      for (const secret of [
        ...others.flatMap((o) => [tokenOf(o.url), o.id]),
        n.id,
        "scope-user",
        "call_scope_1",
        "chatcmpl-scope-1",
        "sess-secret-scope",
        "user-secret-scope",
        "tag-secret-scope",
        "meta-secret-scope",
        "reply-secret-scope",
        "link-meta",
        "comment-secret-scope",
        "reviewer-secret-scope",
        "ntf-meta-secret-scope",
        "gpt-4o-mini",
      ]) {
        assert.ok(!text.includes(secret), `the link's answer shows ${secret}: ${text}`);
      }
      const answered = await s.api<AnswerOut>(`/api/a/${tokenOf(n.url)}/answers`, {
        body: { answers: { reward: true } },
      });
      assert.equal(answered.status, 201, JSON.stringify(answered.body));
      const out = JSON.stringify(answered.body);
      for (const secret of [
        n.id,
        "scope-user",
        "chatcmpl-scope-1",
        "call_scope_1",
        "ntf-meta-secret-scope",
      ]) {
        assert.ok(!out.includes(secret), `the answer's reply shows ${secret}: ${out}`);
      }
      const done = await s.api<TaskOut>(`/api/a/${tokenOf(n.url)}`);
      assert.equal(done.body.notification.status, "done");
      assert.ok(done.body.notification.doneAt);
    });

    it("refuses a tampered, foreign or malformed link with 401 and says why", async (t) => {
      const s = server(t);
      if (!s) return;
      const n = await notifyOne(s, { completionId: "chatcmpl-tamper", sendNotificationTo: "ana" });
      const other = await notifyOne(s, { completionId: "chatcmpl-tamper-2", sendNotificationTo: "eve" });
      const token = tokenOf(n.url);
      const [payload, sig] = token.split(".") as [string, string];

      const flipped = `${payload}.${sig.slice(0, -2)}${sig.endsWith("AA") ? "BB" : "AA"}`;
      const otherPayload = tokenOf(other.url).split(".")[0];
      const longer = JSON.parse(Buffer.from(payload, "base64url").toString()) as { n: string; exp: number };
      const extended = Buffer.from(JSON.stringify({ ...longer, exp: longer.exp + 86400_000 })).toString(
        "base64url",
      );
      const wrongKey = signToken(Buffer.from("not-the-server-secret"), { n: n.id, exp: longer.exp });
      for (const bad of [
        flipped,
        `${otherPayload}.${sig}`,
        `${extended}.${sig}`,
        wrongKey,
        "garbage",
        `${token}.x`,
      ]) {
        const r: { status: number; body: unknown } = await s.api(`/api/a/${bad}`);
        assertError(r, 401, /not valid: its signature does not match/);
        assert.equal((r.body as ErrorOut).error.code, "invalid_token");
        assertError(
          await s.api(`/api/a/${bad}/answers`, { body: { answers: { reward: true } } }),
          401,
          /not valid/,
        );
      }

      // Correctly signed, but for no notification of this server.
      const unknown = signToken(Buffer.from(TOKEN_SECRET), { n: "ntf_nope", exp: Date.now() + 60_000 });
      assertError(await s.api(`/api/a/${unknown}`), 401, /does not exist/);
      // Correctly signed for this notification but with another expiry: not a link this server issued.
      const stretched = signToken(Buffer.from(TOKEN_SECRET), { n: n.id, exp: longer.exp + 86400_000 });
      assertError(await s.api(`/api/a/${stretched}`), 401, /not valid/);
      assert.equal(
        (await s.api(`/api/a/${signToken(Buffer.from(TOKEN_SECRET), { n: n.id, exp: longer.exp })}`)).status,
        200,
        "the same claims signed with the server's key are the original link",
      );
      // The original still works.
      assert.equal((await s.api(`/api/a/${token}`)).status, 200);
    });

    it("refuses an expired link with 410", async (t) => {
      const s = server(t);
      if (!s) return;
      const n = await notifyOne(s, {
        completionId: "chatcmpl-expiring",
        sendNotificationTo: "dora",
        expiresInSeconds: 1,
      });
      assert.equal((await s.api(`/api/a/${tokenOf(n.url)}`)).status, 200, "valid before it expires");
      await sleep(Math.max(0, Date.parse(n.expiresAt) - Date.now()) + 50);
      const r = await s.api(`/api/a/${tokenOf(n.url)}`);
      assertError(r, 410, /expired on/);
      assert.equal((r.body as ErrorOut).error.code, "link_expired");
      assertError(
        await s.api(`/api/a/${tokenOf(n.url)}/answers`, { body: { answers: { reward: true } } }),
        410,
        /expired/,
      );
      const got = await keyed(s)<NotificationOut>(`/api/notifications/${n.id}`);
      assert.equal(got.body.status, "expired");
      const open = await keyed(s)<InboxOut>("/api/notifications?recipient=dora&status=open");
      assert.equal(open.body.data.length, 0);
      assert.equal(open.body.counts.open, 0);
      const expired = await keyed(s)<InboxOut>("/api/notifications?recipient=dora&status=expired");
      assert.deepEqual(
        expired.body.data.map((x) => x.id),
        [n.id],
      );
    });

    it("refuses a revoked link with 410; an answered one cannot be revoked", async (t) => {
      const s = server(t);
      if (!s) return;
      const n = await notifyOne(s, { completionId: "chatcmpl-revoke", sendNotificationTo: "ana" });
      const rev = await keyed(s)<NotificationOut>(`/api/notifications/${n.id}/revoke`, { method: "POST" });
      assert.equal(rev.status, 200, JSON.stringify(rev.body));
      assert.equal(rev.body.status, "revoked");
      assert.ok(rev.body.revokedAt);
      const r = await s.api(`/api/a/${tokenOf(n.url)}`);
      assertError(r, 410, /revoked on/);
      assert.equal((r.body as ErrorOut).error.code, "link_revoked");
      assertError(
        await s.api(`/api/a/${tokenOf(n.url)}/answers`, { body: { answers: { reward: true } } }),
        410,
        /revoked/,
      );
      const twice = await keyed(s)<NotificationOut>(`/api/notifications/${n.id}/revoke`, { method: "POST" });
      assert.equal(twice.status, 200);
      assert.equal(twice.body.revokedAt, rev.body.revokedAt, "revoking again changes nothing");

      const done = await notifyOne(s, { completionId: "chatcmpl-revoke-2", sendNotificationTo: "ana" });
      await s.api(`/api/a/${tokenOf(done.url)}/answers`, { body: { answers: { reward: true } } });
      assertError(
        await keyed(s)(`/api/notifications/${done.id}/revoke`, { method: "POST" }),
        409,
        /already answered/,
      );
      assertError(
        await keyed(s)("/api/notifications/ntf_missing/revoke", { method: "POST" }),
        404,
        /no notification/,
      );
      assertError(await keyed(s)("/api/notifications/ntf_missing"), 404, /no notification/, "id");
    });

    it("validates answers against the rubric, naming the field", async (t) => {
      const s = server(t);
      if (!s) return;
      const put = await keyed(s)("/api/rubrics/quality", {
        method: "PUT",
        body: {
          description: "Answer quality",
          fields: [
            {
              name: "score",
              type: "scale",
              min: 1,
              max: 5,
              labels: ["bad", "poor", "ok", "good", "great"],
              required: true,
            },
            { name: "tone", type: "choice", options: ["formal", "casual"] },
            { name: "notes", type: "text" },
            { name: "fixed", type: "correction" },
          ],
        },
      });
      assert.equal(put.status, 200, JSON.stringify(put.body));
      const n = await notifyOne(s, {
        completionId: "chatcmpl-rubric",
        sendNotificationTo: "ana",
        rubric: "quality",
      });
      const token = tokenOf(n.url);
      const answer = (answers: unknown) => s.api(`/api/a/${token}/answers`, { body: { answers } });

      assertError(await answer({ score: 7 }), 400, /whole number from 1 to 5/, "answers.score");
      assertError(await answer({ score: 2.5 }), 400, /whole number/, "answers.score");
      assertError(await answer({ score: "3" }), 400, /whole number/, "answers.score");
      assertError(await answer({ score: 3, tone: "rude" }), 400, /one of "formal", "casual"/, "answers.tone");
      assertError(
        await answer({ score: 3, bogus: 1 }),
        400,
        /no field "bogus" in rubric "quality"/,
        "answers.bogus",
      );
      assertError(await answer({ tone: "formal" }), 400, /required/, "answers.score");
      assertError(await answer({ score: 3, notes: "  " }), 400, /non-empty/, "answers.notes");
      assertError(await answer({ score: 3, fixed: 12 }), 400, /assistant message/, "answers.fixed");
      assertError(await answer({}), 400, /required/, "answers.score");
      assertError(await answer("nope"), 400, /answers/, "answers");
      assertError(await s.api(`/api/a/${token}/answers`, { body: "{not json" }), 400, /not valid JSON/);
      assertError(
        await s.api(`/api/a/${token}/answers`, { body: { answers: { score: 3 }, extra: 1 } }),
        400,
        /unknown field/,
      );
      // Nothing was stored by the refused attempts.
      const still = await keyed(s)<NotificationOut>(`/api/notifications/${n.id}`);
      assert.equal(still.body.status, "open");

      const ok = await answer({
        score: 4,
        tone: "casual",
        notes: "fine",
        fixed: { role: "assistant", content: "Better." },
      });
      assert.equal(ok.status, 201, JSON.stringify(ok.body));
      const byName = await answersOf(s, "chatcmpl-rubric", n.id);
      assert.equal(byName.get("score")?.numericReward, 4);
      assert.equal(byName.get("tone")?.content, "casual");
      assert.equal(byName.get("notes")?.content, "fine", "a text field other than comment is content");
      assert.deepEqual(byName.get("fixed")?.correction, { role: "assistant", content: "Better." });

      // The default rubric: empty answers are refused.
      const d = await notifyOne(s, { completionId: "chatcmpl-rubric-2", sendNotificationTo: "ana" });
      assertError(
        await s.api(`/api/a/${tokenOf(d.url)}/answers`, { body: { answers: {} } }),
        400,
        /at least one answer/,
        "answers",
      );
      assertError(
        await s.api(`/api/a/${tokenOf(d.url)}/answers`, { body: { answers: { reward: "yes" } } }),
        400,
        /true \(thumbs up\) or false/,
        "answers.reward",
      );
    });

    it("refuses a notification naming an unknown rubric, naming the field (also in a batch)", async (t) => {
      const s = server(t);
      if (!s) return;
      assertError(
        await keyed(s)("/api/notifications", {
          body: { completionId: "c", sendNotificationTo: "ana", rubric: "nope" },
        }),
        400,
        /no rubric named "nope"/,
        "rubric",
      );
      assertError(
        await keyed(s)("/api/notifications", {
          body: [
            { completionId: "c1", sendNotificationTo: "ana" },
            { completionId: "c2", sendNotificationTo: "ana", rubric: "nope" },
          ],
        }),
        400,
        /no rubric/,
        "[1].rubric",
      );
      assertError(
        await keyed(s)("/api/notifications", { body: { completionId: "c" } }),
        400,
        /sendNotificationTo/,
        "sendNotificationTo",
      );
      assertError(
        await keyed(s)("/api/notifications", {
          body: { completionId: "c", sendNotificationTo: "ana", expiresInSeconds: -5 },
        }),
        400,
        /./,
        "expiresInSeconds",
      );
      const none = await keyed(s)<InboxOut>("/api/notifications?recipient=ana&status=open");
      assert.ok(!none.body.data.some((x) => x.completionId === "c1"), "a refused batch stores nothing");
    });

    it("a batch answers { data }, and a client id makes a retry idempotent", async (t) => {
      const s = server(t);
      if (!s) return;
      const r = await keyed(s)<{ data: NotificationOut[] }>("/api/notifications", {
        body: [
          { id: "ntf_client_1", completionId: "b1", sendNotificationTo: "batcher" },
          { completionId: "b2", sendNotificationTo: "batcher", expiresInSeconds: 60 },
        ],
      });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      assert.equal(r.body.data.length, 2);
      assert.equal(r.body.data[0]?.id, "ntf_client_1");
      assert.equal(
        Date.parse(r.body.data[1]?.expiresAt ?? "") - Date.parse(r.body.data[1]?.createdAt ?? ""),
        60_000,
      );
      const retry = await keyed(s)<NotificationOut>("/api/notifications", {
        body: { id: "ntf_client_1", completionId: "b1", sendNotificationTo: "batcher" },
      });
      assert.equal(retry.status, 201);
      assert.equal(retry.body.createdAt, r.body.data[0]?.createdAt, "the first one is kept");
      const inbox = await keyed(s)<InboxOut>("/api/notifications?recipient=batcher");
      assert.equal(inbox.body.data.length, 2);
    });

    it("lists an inbox newest first with cursor paging, counts and previews", async (t) => {
      const s = server(t);
      if (!s) return;
      await keyed(s)("/api/calls", {
        body: chatCallBody("call_inbox_0", { completionId: "chatcmpl-inbox-0" }),
      });
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) {
        ids.push(
          (await notifyOne(s, { completionId: `chatcmpl-inbox-${i}`, sendNotificationTo: "ines" })).id,
        );
      }
      await notifyOne(s, { completionId: "chatcmpl-inbox-x", sendNotificationTo: "someone-else" });
      const seen: NotificationOut[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const q: string = `/api/notifications?recipient=ines&limit=2${cursor ? `&cursor=${cursor}` : ""}`;
        const page: { status: number; body: InboxOut } = await keyed(s)<InboxOut>(q);
        assert.equal(page.status, 200, JSON.stringify(page.body));
        assert.deepEqual(page.body.counts, { open: 5, done: 0 });
        seen.push(...page.body.data);
        cursor = page.body.nextCursor;
        pages++;
      } while (cursor && pages < 10);
      assert.equal(pages, 3);
      assert.deepEqual(
        seen.map((x) => x.id),
        [...ids].reverse(),
        "newest first, each once",
      );
      const first = seen.find((x) => x.completionId === "chatcmpl-inbox-0");
      assert.equal(first?.preview?.callId, "call_inbox_0");
      assert.equal(first?.preview?.input, "question call_inbox_0");
      assert.equal(seen.find((x) => x.completionId === "chatcmpl-inbox-1")?.preview, null);
      const about = await keyed(s)<InboxOut>("/api/notifications?completionId=call_inbox_0,chatcmpl-inbox-3");
      assert.deepEqual(
        about.body.data.map((x) => x.completionId),
        ["chatcmpl-inbox-3"],
        "filtered by the tags of a call",
      );
      assertError(await keyed(s)("/api/notifications?status=later"), 400, /status must be one of/, "status");
      assertError(await keyed(s)("/api/notifications?cursor=bm9wZQ"), 400, /cursor/, "cursor");
      assertError(await keyed(s)("/api/notifications?limit=0"), 400, /./, "limit");
    });

    it("rubrics: the default, PUT with validation naming the field, GET by name", async (t) => {
      const s = server(t);
      if (!s) return;
      const list = await keyed(s)<{ data: Array<{ name: string; source: string }> }>("/api/rubrics");
      assert.equal(list.body.data[0]?.name, "default");
      const put = (name: string, body: unknown) => keyed(s)(`/api/rubrics/${name}`, { method: "PUT", body });
      const field = (f: Record<string, unknown>) => ({ fields: [f] });
      assertError(
        await put("r1", field({ name: "s", type: "scale", min: 5, max: 1 })),
        400,
        /greater than min/,
        "fields[0].max",
      );
      assertError(
        await put("r1", field({ name: "c", type: "choice" })),
        400,
        /needs options/,
        "fields[0].options",
      );
      assertError(
        await put("r1", field({ name: "x", type: "stars" })),
        400,
        /type must be one of/,
        "fields[0].type",
      );
      assertError(
        await put("r1", field({ name: "b", type: "boolean", options: ["a"] })),
        400,
        /only to choice/,
        "fields[0].options",
      );
      assertError(
        await put("r1", field({ name: "has space", type: "text" })),
        400,
        /letters, digits/,
        "fields[0].name",
      );
      assertError(
        await put("r1", field({ name: "s", type: "scale", min: 1, max: 3, labels: ["a", "b", "c", "d"] })),
        400,
        /at most 3 labels/,
        "fields[0].labels",
      );
      assertError(
        await put("r1", {
          fields: [
            { name: "a", type: "text" },
            { name: "a", type: "boolean" },
          ],
        }),
        400,
        /duplicate field "a"/,
        "fields[1].name",
      );
      assertError(await put("r1", { fields: [] }), 400, /at least one field/, "fields");
      assertError(
        await put("r1", { name: "r2", fields: [{ name: "a", type: "text" }] }),
        400,
        /differs/,
        "name",
      );
      assertError(
        await put("bad%20name", { fields: [{ name: "a", type: "text" }] }),
        400,
        /letters, digits/,
        "name",
      );
      assertError(await put("r1", [1]), 400, /rubric object/);
      assertError(await keyed(s)("/api/rubrics/r1"), 404, /no rubric named "r1"/);

      const ok = await put("r1", { fields: [{ name: "stars", type: "scale", min: 0, max: 10 }] });
      assert.equal(ok.status, 200, JSON.stringify(ok.body));
      const got = await keyed(s)<{ name: string; source: string; fields: unknown[] }>("/api/rubrics/r1");
      assert.equal(got.body.source, "app");
      assert.deepEqual(got.body.fields, [{ name: "stars", type: "scale", min: 0, max: 10 }]);
      // Redefining the default changes what notify uses with no rubric.
      await put("default", {
        fields: [
          { name: "reward", type: "boolean" },
          { name: "stars", type: "scale" },
        ],
      });
      const n = await notifyOne(s, { completionId: "c-def", sendNotificationTo: "rubric-user" });
      const task = await s.api<TaskOut>(`/api/a/${tokenOf(n.url)}`);
      assert.deepEqual(
        task.body.rubric.fields.map((f) => f.name),
        ["reward", "stars"],
      );
      await put("default", {
        fields: [
          { name: "reward", type: "boolean" },
          { name: "comment", type: "text" },
          { name: "correction", type: "correction" },
        ],
      });
    });
  });

  describe(`notification links and rubrics across restarts on ${dialect}`, () => {
    it("a generated link key is kept in the store: links still open after a restart", async (t) => {
      if (dialect === "postgres" && !(await postgresAvailable())) {
        t.skip("PostgreSQL unreachable: this test did NOT run on postgres");
        return;
      }
      const fresh = await freshDatabase(dialect);
      try {
        const a = await startTestServer(dialect, { db: fresh.db, dataDir: fresh.dataDir });
        const r = await a.api<NotificationOut>("/api/notifications", {
          body: { completionId: "c-restart", sendNotificationTo: "ana" },
        });
        await a.close();
        const b = await startTestServer(dialect, { db: fresh.db, dataDir: fresh.dataDir });
        try {
          const task = await b.api<TaskOut>(`/api/a/${tokenOf(r.body.url)}`);
          assert.equal(task.status, 200, JSON.stringify(task.body));
          assert.equal(task.body.notification.expiresAt, r.body.expiresAt);
        } finally {
          await b.close();
        }
        // A server with another configured secret does not accept it.
        const c = await startTestServer(dialect, {
          db: fresh.db,
          dataDir: fresh.dataDir,
          env: { INTERSEBD_TOKEN_SECRET: "another-secret-entirely" },
        });
        try {
          assert.equal((await c.api(`/api/a/${tokenOf(r.body.url)}`)).status, 401);
        } finally {
          await c.close();
        }
      } finally {
        await fresh.drop();
      }
    });

    it("loads the rubrics file; an app edit survives restarts until the file changes", async (t) => {
      if (dialect === "postgres" && !(await postgresAvailable())) {
        t.skip("PostgreSQL unreachable: this test did NOT run on postgres");
        return;
      }
      const fresh = await freshDatabase(dialect);
      const file = path.join(fresh.dataDir, "rubrics.json");
      const write = (label: string) =>
        fs.writeFileSync(
          file,
          JSON.stringify([{ name: "support", fields: [{ name: "solved", type: "boolean", label }] }]),
        );
      const env = { INTERSEBD_RUBRICS_FILE: file };
      const label = async (s: TestServer) =>
        (await s.api<{ source: string; fields: Array<{ label?: string }> }>("/api/rubrics/support")).body;
      try {
        write("Solved?");
        let s = await startTestServer(dialect, { db: fresh.db, dataDir: fresh.dataDir, env });
        assert.deepEqual(await label(s).then((r) => [r.source, r.fields[0]?.label]), ["file", "Solved?"]);
        const n = await s.api<NotificationOut>("/api/notifications", {
          body: { completionId: "c", sendNotificationTo: "ana", rubric: "support" },
        });
        assert.equal(n.status, 201, JSON.stringify(n.body));
        await s.api("/api/rubrics/support", {
          method: "PUT",
          body: { fields: [{ name: "solved", type: "boolean", label: "Edited in the app" }] },
        });
        await s.close();

        s = await startTestServer(dialect, { db: fresh.db, dataDir: fresh.dataDir, env });
        assert.deepEqual(await label(s).then((r) => [r.source, r.fields[0]?.label]), [
          "app",
          "Edited in the app",
        ]);
        await s.close();

        write("Changed in the file");
        s = await startTestServer(dialect, { db: fresh.db, dataDir: fresh.dataDir, env });
        assert.deepEqual(await label(s).then((r) => [r.source, r.fields[0]?.label]), [
          "file",
          "Changed in the file",
        ]);
        await s.close();
      } finally {
        await fresh.drop();
      }
    });
  });
}

describe("tokens", () => {
  const key = Buffer.from("k".repeat(32));
  it("round-trips the notification id and expiry", () => {
    const exp = Date.now() + 1000;
    assert.deepEqual(verifyToken(key, signToken(key, { n: "ntf_1", exp })), { n: "ntf_1", exp });
  });
  it("refuses another key's token with 401 and an expired one with 410", () => {
    const exp = Date.now() + 1000;
    assert.throws(() => verifyToken(Buffer.from("other"), signToken(key, { n: "ntf_1", exp })), {
      status: 401,
    });
    assert.throws(() => verifyToken(key, signToken(key, { n: "ntf_1", exp: 5 })), { status: 410 });
  });
  it("accepts no other spelling of the signature (padding added)", () => {
    const tok = signToken(key, { n: "ntf_1", exp: Date.now() + 1000 });
    assert.throws(() => verifyToken(key, `${tok}=`), { status: 401 });
  });
});

describe("readRubricsFile", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "intersebd-rubrics-"));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const fileWith = (content: string) => {
    const f = path.join(dir, `${Math.random().toString(36).slice(2)}.json`);
    fs.writeFileSync(f, content);
    return f;
  };
  it("names the file and the entry that is wrong", () => {
    assert.throws(() => readRubricsFile(fileWith("{")), /INTERSEBD_RUBRICS_FILE .*json/i);
    assert.throws(() => readRubricsFile(fileWith("{}")), /expected a JSON array/);
    assert.throws(
      () =>
        readRubricsFile(
          fileWith(JSON.stringify([{ name: "a", fields: [{ name: "x", type: "scale", min: 3, max: 3 }] }])),
        ),
      /\[0\]\.fields\.0\.max: max must be greater than min/,
    );
    assert.throws(
      () =>
        readRubricsFile(
          fileWith(
            JSON.stringify([
              { name: "a", fields: [{ name: "x", type: "text" }] },
              { name: "a", fields: [{ name: "x", type: "text" }] },
            ]),
          ),
        ),
      /"a" is defined twice/,
    );
    assert.throws(() => readRubricsFile(path.join(dir, "missing.json")), /ENOENT/);
  });
  it("reads a valid file", () => {
    const r = readRubricsFile(
      fileWith(JSON.stringify([{ name: "ok", fields: [{ name: "x", type: "boolean" }] }])),
    );
    assert.deepEqual(r, [{ name: "ok", fields: [{ name: "x", type: "boolean" }] }]);
  });
});
