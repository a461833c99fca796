import type { CapturedCall } from "../calls/record.ts";

/**
 * A captured call with every field filled: a plain answered chat completion through the proxy. Tests that build
 * call rows (`toCallRow(capturedCall({ id, ... }), "full")`) override only what they look at, so that a field
 * added to `CapturedCall` is filled here once instead of in every test that makes one.
 */
export function capturedCall(overrides: Partial<CapturedCall> = {}): CapturedCall {
  return {
    id: "call_test",
    startedAt: 1_700_000_000_000,
    endedAt: 1_700_000_000_100,
    ttftMs: null,
    upstream: "default",
    path: "/chat/completions",
    stream: false,
    status: 200,
    outcome: "ok",
    error: null,
    request: { model: "m", messages: [{ role: "user", content: "hi" }] },
    response: { choices: [{ index: 0, message: { role: "assistant", content: "hello" } }] },
    sessionId: null,
    userId: null,
    tags: [],
    metadata: {},
    source: "proxy",
    ...overrides,
  };
}

/**
 * The JSON body of a one-message chat completion, streamed with usage when `stream`: what the traffic of the
 * fault and kill tests sends, alternating plain and streamed.
 */
export function chatCompletionBody(text: string, stream: boolean): string {
  return JSON.stringify({
    model: "gpt-4o-mini",
    messages: [{ role: "user", content: text }],
    ...(stream ? { stream: true, stream_options: { include_usage: true } } : {}),
  });
}
