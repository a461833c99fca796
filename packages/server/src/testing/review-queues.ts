/**
 * Test helpers for review queues (notifications/queues.ts), for tests that drive reviewers through their links,
 * in-process or from a browser: a queue created through the API, and each reviewer's link to an item.
 */
import assert from "node:assert/strict";
import type { ReviewQueueView } from "../notifications/index.ts";
import type { TestServer } from "./harness.ts";

/** `POST /api/review-queues`, asserting the 201. */
export async function createQueue(s: TestServer, body: Record<string, unknown>): Promise<ReviewQueueView> {
  const r = await s.api<ReviewQueueView>("/api/review-queues", { body });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body;
}

/**
 * The signed link (`{ url, token }`) a reviewer got for the item about `callId` in queue `queueId`: open `url` in
 * a browser as that reviewer, or POST `/api/a/{token}/answers`.
 */
export async function reviewerLink(
  s: TestServer,
  reviewer: string,
  queueId: string,
  callId: string,
): Promise<{ url: string; token: string }> {
  const r = await s.api<{
    data: Array<{ completionId: string; url: string; metadata: Record<string, unknown> | null }>;
  }>(`/api/notifications?recipient=${encodeURIComponent(reviewer)}&limit=200`);
  const item = r.body.data.find((n) => n.completionId === callId && n.metadata?.reviewQueue === queueId);
  assert.ok(item, `${reviewer} has no item about ${callId} in queue ${queueId}`);
  return { url: item.url, token: item.url.split("/a/")[1] as string };
}

/** Answers a reviewer's item through their link, as the annotation page does; asserts the 201. */
export async function answerAs(
  s: TestServer,
  reviewer: string,
  queueId: string,
  callId: string,
  answers: Record<string, unknown>,
): Promise<void> {
  const { token } = await reviewerLink(s, reviewer, queueId, callId);
  const r = await s.api(`/api/a/${token}/answers`, { body: { answers } });
  assert.equal(r.status, 201, JSON.stringify(r.body));
}
