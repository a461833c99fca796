/**
 * The fake upstream's Anthropic Messages API (`POST /v1/messages`): an `echo: <last user text>` message, a
 * `tool_use` block when tools are given and the user asks about the weather, streamed as Anthropic streams
 * (`message_start`, content block events, `message_delta` with the stop reason and usage, `message_stop`) when
 * `stream: true`, and the fixtures of fixtures/anthropic-messages-streams replayed byte for byte.
 */
import { createHash } from "node:crypto";
import type http from "node:http";
import path from "node:path";
import { type HeaderOf, replayFixture, sleep, streamControls } from "./replay.ts";

/** Anthropic Messages streams built from the documented event sequences (see its README). */
export const MESSAGES_STREAMS_DIR = path.resolve(import.meta.dirname, "fixtures/anthropic-messages-streams");

interface MessagesRequest {
  model?: string;
  messages?: Array<{ role: string; content?: unknown }>;
  stream?: boolean;
  tools?: unknown[];
}

function textOf(content: unknown): string {
  if (typeof content === "string") return content;
  if (!Array.isArray(content)) return "";
  return content
    .map((p) => ((p as { type?: string }).type === "text" ? (p as { text?: string }).text : ""))
    .join(" ");
}

/** Answers `POST /v1/messages`; `h` reads a request header (the `x-fake-*` controls). */
export async function answerMessages(
  body: string,
  h: HeaderOf,
  res: http.ServerResponse,
  fixtureDirs: string[],
): Promise<void> {
  const controls = streamControls(h);
  const { chunkDelay, disconnectAfter } = controls;
  const fixture = h("x-fake-fixture");
  if (fixture)
    return replayFixture(res, fixture, [MESSAGES_STREAMS_DIR, ...fixtureDirs], "request-id", controls);
  let req: MessagesRequest;
  try {
    req = JSON.parse(body) as MessagesRequest;
    if (!Array.isArray(req.messages)) throw new Error("messages: Field required");
  } catch (err) {
    res.writeHead(400, { "content-type": "application/json" });
    res.end(
      JSON.stringify({
        type: "error",
        error: { type: "invalid_request_error", message: `fake upstream: ${(err as Error).message}` },
      }),
    );
    return;
  }
  const last = [...(req.messages ?? [])].reverse().find((m) => m.role === "user");
  const text = textOf(last?.content);
  const id = `msg_fake${createHash("sha256").update(body).update(String(Math.random())).digest("hex").slice(0, 20)}`;
  const model = req.model ?? "claude-fake";
  const toolUse = Boolean(req.tools?.length) && /weather/i.test(text);
  const answer = `echo: ${text}`;
  const input = { city: "Paris", unit: "c" };
  const inputTokens = Math.max(1, JSON.stringify(req.messages).length >> 2);
  const outputTokens = Math.max(1, (toolUse ? JSON.stringify(input) : answer).length >> 2);
  const content = toolUse
    ? [{ type: "tool_use", id: "toolu_fake_weather_1", name: "get_weather", input }]
    : [{ type: "text", text: answer }];
  const stopReason = toolUse ? "tool_use" : "end_turn";
  const usage = { input_tokens: inputTokens, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 };

  if (!req.stream) {
    res.writeHead(200, { "content-type": "application/json", "request-id": `req_${id}` });
    res.end(
      JSON.stringify({
        id,
        type: "message",
        role: "assistant",
        model,
        content,
        stop_reason: stopReason,
        stop_sequence: null,
        usage: { ...usage, output_tokens: outputTokens },
      }),
    );
    return;
  }
  const events: Array<[string, unknown]> = [
    [
      "message_start",
      {
        type: "message_start",
        message: {
          id,
          type: "message",
          role: "assistant",
          model,
          content: [],
          stop_reason: null,
          stop_sequence: null,
          usage: { ...usage, output_tokens: 1 },
        },
      },
    ],
  ];
  if (toolUse) {
    const json = JSON.stringify(input);
    events.push([
      "content_block_start",
      { type: "content_block_start", index: 0, content_block: { ...content[0], input: {} } },
    ]);
    for (let i = 0; i < json.length; i += 8)
      events.push([
        "content_block_delta",
        {
          type: "content_block_delta",
          index: 0,
          delta: { type: "input_json_delta", partial_json: json.slice(i, i + 8) },
        },
      ]);
  } else {
    events.push([
      "content_block_start",
      { type: "content_block_start", index: 0, content_block: { type: "text", text: "" } },
    ]);
    events.push(["ping", { type: "ping" }]);
    for (const w of answer.split(/(?<= )/))
      events.push([
        "content_block_delta",
        { type: "content_block_delta", index: 0, delta: { type: "text_delta", text: w } },
      ]);
  }
  events.push(["content_block_stop", { type: "content_block_stop", index: 0 }]);
  events.push([
    "message_delta",
    {
      type: "message_delta",
      delta: { stop_reason: stopReason, stop_sequence: null },
      usage: { output_tokens: outputTokens },
    },
  ]);
  events.push(["message_stop", { type: "message_stop" }]);
  res.writeHead(200, { "content-type": "text/event-stream; charset=utf-8", "request-id": `req_${id}` });
  let sent = 0;
  for (const [name, data] of events) {
    if (sent++ >= disconnectAfter || res.destroyed) return void res.destroy();
    res.write(`event: ${name}\ndata: ${JSON.stringify(data)}\n\n`);
    if (chunkDelay) await sleep(chunkDelay);
  }
  res.end();
}
