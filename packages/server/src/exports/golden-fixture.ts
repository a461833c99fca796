/**
 * A fixed store for export tests, built through the REST API: calls with fixed ids, completion ids and
 * timestamps, annotations, a link and comparisons. Each call is there for a reason, said beside it.
 */
import assert from "node:assert/strict";
import type { TestServer } from "../testing/index.ts";

const T0 = 1_700_000_000_000;

const weatherTool = {
  type: "function",
  function: {
    name: "get_weather",
    description: "Current weather in a city",
    parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
  },
};

function call(
  n: number,
  session: string | null,
  request: Record<string, unknown>,
  message: Record<string, unknown> | null,
  extra: Record<string, unknown> = {},
) {
  const id = `call_${String(n).padStart(2, "0")}`;
  const completionId = `chatcmpl-${String(n).padStart(2, "0")}`;
  const finish = (extra.finish as string | undefined) ?? (message?.tool_calls ? "tool_calls" : "stop");
  const { finish: _, ...rest } = extra;
  return {
    id,
    startedAt: T0 + n * 60_000,
    endedAt: T0 + n * 60_000 + 500,
    sessionId: session,
    userId: session ? `user-${session}` : null,
    request: { model: "gpt-4o-mini", ...request },
    response:
      message === null
        ? null
        : {
            id: completionId,
            object: "chat.completion",
            created: 1_700_000_000,
            model: "gpt-4o-mini-2024-07-18",
            choices: [{ index: 0, finish_reason: finish, logprobs: null, message }],
            usage: { prompt_tokens: 20, completion_tokens: 8, total_tokens: 28 },
          },
    ...rest,
  };
}

const answer = (content: string) => ({ role: "assistant", content, refusal: null, annotations: [] });
const user = (content: unknown) => ({ role: "user", content });

export const fixtureCalls = [
  // A tool call as the answer; tools and parallel_tool_calls in the request.
  call(
    1,
    "s-a",
    {
      messages: [{ role: "system", content: "You are a weather bot." }, user("Weather in Paris?")],
      tools: [weatherTool],
      parallel_tool_calls: false,
    },
    {
      role: "assistant",
      content: null,
      refusal: null,
      tool_calls: [
        { id: "call_w1", type: "function", function: { name: "get_weather", arguments: '{"city":"Paris"}' } },
      ],
    },
  ),
  // The same conversation after the tool answered: tool calls and a tool message in the history.
  call(
    2,
    "s-a",
    {
      messages: [
        { role: "system", content: "You are a weather bot." },
        user("Weather in Paris?"),
        {
          role: "assistant",
          content: null,
          tool_calls: [
            {
              id: "call_w1",
              type: "function",
              function: { name: "get_weather", arguments: '{"city":"Paris"}' },
            },
          ],
        },
        { role: "tool", tool_call_id: "call_w1", content: '{"temp_c":18,"sky":"sunny"}' },
      ],
      tools: [weatherTool],
      parallel_tool_calls: false,
    },
    answer("It is 18°C and sunny in Paris."),
  ),
  // developer role and content parts; a human correction (text) replaces the answer.
  call(
    3,
    "s-b",
    {
      messages: [
        { role: "developer", content: "Answer in French." },
        user([{ type: "text", text: "Say hi" }]),
      ],
    },
    answer("Salut !"),
  ),
  // Same input as 5 and 15, thumbs up from the end user.
  call(4, "s-b", { messages: [user("Capital of Italy?")] }, answer("Rome.")),
  // Same input, worse answer; its correction (a message object) equals 4's answer.
  call(5, "s-c", { messages: [user("Capital of Italy?")] }, answer("Milan.")),
  // Two haikus compared: 7 (through a linked tag) wins over 6.
  call(6, "s-c", { messages: [user("Write a haiku about rain")] }, answer("Grey sky hums softly")),
  call(7, "s-d", { messages: [user("Write a haiku about rain")] }, answer("Rain taps the window")),
  // Cut off.
  call(8, "s-d", { messages: [user("Tell me a long story")] }, answer("Once upon a"), { finish: "length" }),
  // An upstream error: no answer.
  call(9, "s-e", { messages: [user("Hello?")] }, null, {
    outcome: "upstream_error",
    status: 500,
    error: "upstream 500",
  }),
  // Not a chat call.
  call(10, "s-e", { input: "embed me" }, null, {
    path: "/embeddings",
    response: { object: "list", data: [], model: "text-embedding-3-small" },
  }),
  // The history has a tool call nobody answered.
  call(
    11,
    "s-f",
    {
      messages: [
        user("Book a table"),
        {
          role: "assistant",
          content: null,
          tool_calls: [{ id: "call_b1", type: "function", function: { name: "book", arguments: "{}" } }],
        },
        user("Never mind"),
      ],
    },
    answer("OK."),
  ),
  // Two user turns in a row: fine for OpenAI, not for TRL chat templates.
  call(12, "s-f", { messages: [user("Hi"), user("Are you there?")] }, answer("Yes.")),
  // Empty answer.
  call(13, "s-g", { messages: [user("Say nothing")] }, answer("")),
  // A tool call whose arguments are not JSON.
  call(
    14,
    "s-g",
    { messages: [user("Weather in Rome?")], tools: [weatherTool] },
    {
      role: "assistant",
      content: null,
      tool_calls: [
        { id: "call_w2", type: "function", function: { name: "get_weather", arguments: "{city: Rome" } },
      ],
    },
  ),
  // A duplicate of 4.
  call(15, null, { messages: [user("Capital of Italy?")] }, answer("Rome.")),
];

export const fixtureAnnotations = [
  { id: "ann_01", annotationKey: "chatcmpl-01", numericReward: 1 },
  { id: "ann_02", annotationKey: "chatcmpl-02", numericReward: 1, source: "human", annotatorId: "ana" },
  { id: "ann_02h", annotationKey: "chatcmpl-02", name: "helpful", numericReward: 4, source: "human" },
  {
    id: "ann_03",
    annotationKey: "chatcmpl-03",
    numericReward: 0,
    correction: "Bonjour !",
    comment: "too familiar",
    source: "human",
    annotatorId: "ana",
  },
  { id: "ann_04", annotationKey: "chatcmpl-04", numericReward: 1, source: "user", annotatorId: "u-42" },
  {
    id: "ann_05",
    annotationKey: "chatcmpl-05",
    numericReward: 0,
    correction: { role: "assistant", content: "Rome." },
    source: "human",
    data: { reason: "wrong city" },
  },
  { id: "ann_08", annotationKey: "chatcmpl-08", numericReward: 0 },
  { id: "ann_09", annotationKey: "call_09", numericReward: 0 },
  { id: "ann_11", annotationKey: "chatcmpl-11", numericReward: 1 },
  { id: "ann_12", annotationKey: "chatcmpl-12", numericReward: 1, source: "judge", content: { score: 9 } },
  { id: "ann_13", annotationKey: "chatcmpl-13", numericReward: 0 },
  { id: "ann_14", annotationKey: "chatcmpl-14", numericReward: 0 },
  { id: "ann_15", annotationKey: "chatcmpl-15", numericReward: 1 },
];

export const fixtureComparisons = [
  { id: "cmp_1", a: "chatcmpl-06", b: "reply-7", choice: "b", reason: "vivid", annotatorId: "ana" },
  { id: "cmp_2", a: "chatcmpl-06", b: "chatcmpl-07", choice: "tie" },
  { id: "cmp_3", a: "ghost-tag", b: "chatcmpl-06", choice: "a" },
  { id: "cmp_4", a: "chatcmpl-04", b: "chatcmpl-06", choice: "a" },
];

/** Fills a fresh test server with the fixture. */
export async function loadFixture(s: TestServer): Promise<void> {
  const calls = await s.api("/api/calls", { body: fixtureCalls });
  assert.equal(calls.status, 201, JSON.stringify(calls.body));
  const link = await s.api("/api/links", { body: { upstreamTag: "chatcmpl-07", downstreamTag: "reply-7" } });
  assert.equal(link.status, 201, JSON.stringify(link.body));
  const ann = await s.api("/api/annotations", { body: fixtureAnnotations });
  assert.equal(ann.status, 201, JSON.stringify(ann.body));
  const cmp = await s.api("/api/comparisons", { body: fixtureComparisons });
  assert.equal(cmp.status, 201, JSON.stringify(cmp.body));
}
