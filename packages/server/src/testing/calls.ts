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

/** What `chatCallBody` takes: the texts a test reads, and any other top-level field of the ingested call. */
export type ChatCallFields = {
  /** The completion id the response carries (what links and annotations name); `cmpl-<id>` by default. */
  completionId?: string;
  question?: string;
  answer?: string;
  model?: string;
} & Record<string, unknown>;

/**
 * The body of `POST /api/calls` for one answered chat completion, as an SDK sends it: `question <id>` answered
 * `answer <id>` with usage, the response's id `cmpl-<id>`. Other fields (tags, userId, sessionId, startedAt...)
 * go on the call as given, so that a test names only what it looks at.
 */
export function chatCallBody(id: string, fields: ChatCallFields = {}) {
  const { completionId, question, answer, model = "gpt-4o-mini", ...rest } = fields;
  return {
    id,
    request: { model, messages: [{ role: "user", content: question ?? `question ${id}` }] },
    response: {
      id: completionId ?? `cmpl-${id}`,
      object: "chat.completion",
      created: 1_700_000_000,
      model,
      choices: [
        {
          index: 0,
          message: { role: "assistant", content: answer ?? `answer ${id}` },
          finish_reason: "stop",
        },
      ],
      usage: { prompt_tokens: 5, completion_tokens: 3, total_tokens: 8 },
    },
    ...rest,
  };
}

/**
 * The `choices` of a chat completion whose one answer calls tool `name` with `args` (JSON text): what the server
 * stores for a tool call, whichever protocol or span format it came in.
 */
export function toolCallChoices(id: string, name: string, args: string) {
  return [
    {
      index: 0,
      message: {
        role: "assistant",
        content: null,
        tool_calls: [{ id, type: "function", function: { name, arguments: args } }],
      },
      finish_reason: "tool_calls",
    },
  ];
}
