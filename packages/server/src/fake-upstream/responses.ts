/**
 * The fake upstream's OpenAI Responses API: `POST /v1/responses` answers an `echo: <last user text>` message (a
 * `function_call` when function tools are given and the user asks about the weather), as one `response` object
 * or, with `stream: true`, as the typed events the API sends (`response.created`, `response.in_progress`, item,
 * part and delta events, `response.completed`); `x-fake-fixture` replays a stream of
 * fixtures/openai-responses-streams byte for byte. Responses are kept (unless `store: false`) so that
 * `GET /v1/responses/{id}` answers them; `background: true` answers at once with status `queued`, and the
 * response is `completed` when it is fetched.
 */
import { createHash } from "node:crypto";
import type http from "node:http";
import path from "node:path";
import { type HeaderOf, replayFixture, sleep, streamControls } from "./replay.ts";

/** Responses API streams built from the documented event sequences (see its README). */
export const RESPONSES_STREAMS_DIR = path.resolve(import.meta.dirname, "fixtures/openai-responses-streams");

type Json = Record<string, unknown>;

interface ResponsesRequest {
  model?: string;
  input?: unknown;
  instructions?: string | null;
  stream?: boolean;
  store?: boolean;
  background?: boolean;
  tools?: Array<{ type?: string }>;
  previous_response_id?: string | null;
  metadata?: Json;
}

/** The text of the last user input: a string input, or the last user item's text parts. */
function lastUserText(input: unknown): string {
  if (typeof input === "string") return input;
  if (!Array.isArray(input)) return "";
  const item = [...input].reverse().find((i) => (i as Json)?.role === "user") as Json | undefined;
  const content = item?.content;
  if (typeof content === "string") return content;
  if (!Array.isArray(content)) return "";
  return content
    .map((p) => ((p as Json).type === "input_text" ? String((p as Json).text ?? "") : ""))
    .join(" ");
}

function json(
  res: http.ServerResponse,
  status: number,
  body: unknown,
  headers: http.OutgoingHttpHeaders = {},
) {
  res.writeHead(status, { "content-type": "application/json", ...headers });
  res.end(JSON.stringify(body));
}

/** The Responses API of one fake upstream (its stored responses live as long as it does). */
export function responsesFake(fixtureDirs: string[]) {
  const stored = new Map<string, Json>();

  async function create(body: string, h: HeaderOf, res: http.ServerResponse) {
    const controls = streamControls(h);
    const { chunkDelay, disconnectAfter } = controls;
    const fixture = h("x-fake-fixture");
    if (fixture)
      return replayFixture(res, fixture, [RESPONSES_STREAMS_DIR, ...fixtureDirs], "x-request-id", controls);
    let req: ResponsesRequest;
    try {
      req = JSON.parse(body) as ResponsesRequest;
      if (req.input === undefined && !req.previous_response_id)
        throw new Error("Missing required parameter: 'input'.");
    } catch (err) {
      return json(res, 400, {
        error: {
          message: `fake upstream: ${(err as Error).message}`,
          type: "invalid_request_error",
          param: "input",
          code: null,
        },
      });
    }
    if (req.previous_response_id && !stored.has(req.previous_response_id)) {
      return json(res, 404, {
        error: {
          message: `Previous response with id '${req.previous_response_id}' not found.`,
          type: "invalid_request_error",
          param: "previous_response_id",
          code: "previous_response_not_found",
        },
      });
    }
    const hash = createHash("sha256").update(body).update(String(Math.random())).digest("hex");
    const id = `resp_fake${hash.slice(0, 24)}`;
    const text = lastUserText(req.input);
    const toolCall = Boolean(req.tools?.some((t) => t.type === "function")) && /weather/i.test(text);
    const args = JSON.stringify({ city: "Paris", unit: "c" });
    const answer = `echo: ${text}`;
    const item: Json = toolCall
      ? {
          id: `fc_fake${hash.slice(24, 40)}`,
          type: "function_call",
          status: "completed",
          arguments: args,
          call_id: "call_fake_weather_1",
          name: "get_weather",
        }
      : {
          id: `msg_fake${hash.slice(24, 40)}`,
          type: "message",
          status: "completed",
          content: [{ type: "output_text", annotations: [], logprobs: [], text: answer }],
          role: "assistant",
        };
    const inputTokens = Math.max(1, JSON.stringify(req.input ?? "").length >> 2);
    const outputTokens = Math.max(1, (toolCall ? args : answer).length >> 2);
    const usage = {
      input_tokens: inputTokens,
      input_tokens_details: { cached_tokens: 0 },
      output_tokens: outputTokens,
      output_tokens_details: { reasoning_tokens: 0 },
      total_tokens: inputTokens + outputTokens,
    };
    const base: Json = {
      id,
      object: "response",
      created_at: Math.floor(Date.now() / 1000),
      status: "in_progress",
      background: req.background === true,
      error: null,
      incomplete_details: null,
      instructions: req.instructions ?? null,
      max_output_tokens: null,
      model: req.model ?? "fake-model",
      output: [],
      parallel_tool_calls: true,
      previous_response_id: req.previous_response_id ?? null,
      reasoning: { effort: null, summary: null },
      store: req.store !== false,
      temperature: 1,
      text: { format: { type: "text" } },
      tool_choice: "auto",
      tools: req.tools ?? [],
      top_p: 1,
      truncation: "disabled",
      usage: null,
      user: null,
      metadata: req.metadata ?? {},
    };
    const done: Json = { ...base, status: "completed", output: [item], usage };
    if (req.store !== false) stored.set(id, done);
    if (req.background && !req.stream) return json(res, 200, { ...base, status: "queued" });
    if (!req.stream) return json(res, 200, done, { "x-request-id": `req_${id}` });

    res.writeHead(200, { "content-type": "text/event-stream; charset=utf-8", "x-request-id": `req_${id}` });
    const events: Json[] = [
      { type: "response.created", response: base },
      { type: "response.in_progress", response: base },
    ];
    if (toolCall) {
      events.push({
        type: "response.output_item.added",
        output_index: 0,
        item: { ...item, status: "in_progress", arguments: "" },
      });
      for (let i = 0; i < args.length; i += 8)
        events.push({
          type: "response.function_call_arguments.delta",
          item_id: item.id,
          output_index: 0,
          delta: args.slice(i, i + 8),
        });
      events.push({
        type: "response.function_call_arguments.done",
        item_id: item.id,
        output_index: 0,
        arguments: args,
      });
    } else {
      const empty = { type: "output_text", annotations: [], logprobs: [], text: "" };
      const where = { item_id: item.id, output_index: 0, content_index: 0 };
      events.push({
        type: "response.output_item.added",
        output_index: 0,
        item: { ...item, status: "in_progress", content: [] },
      });
      events.push({ type: "response.content_part.added", ...where, part: empty });
      for (const w of answer.split(/(?<= )/))
        events.push({ type: "response.output_text.delta", ...where, delta: w, logprobs: [] });
      events.push({ type: "response.output_text.done", ...where, text: answer, logprobs: [] });
      events.push({ type: "response.content_part.done", ...where, part: { ...empty, text: answer } });
    }
    events.push({ type: "response.output_item.done", output_index: 0, item });
    events.push({ type: "response.completed", response: done });
    let sent = 0;
    for (const [sequence_number, e] of events.entries()) {
      if (sent++ >= disconnectAfter || res.destroyed) return void res.destroy();
      const { type, ...rest } = e;
      res.write(`event: ${type}\ndata: ${JSON.stringify({ type, sequence_number, ...rest })}\n\n`);
      if (chunkDelay) await sleep(chunkDelay);
    }
    res.end();
  }

  return {
    /** Answers `/v1/responses...`; false when the method and path are not the Responses API's. */
    async answer(
      method: string,
      url: string,
      body: string,
      h: HeaderOf,
      res: http.ServerResponse,
    ): Promise<boolean> {
      const pathOnly = url.split("?")[0] ?? "";
      if (method === "POST" && /^\/v1\/responses\/?$/.test(pathOnly)) {
        await create(body, h, res);
        return true;
      }
      const m = /^\/v1\/responses\/([^/]+)$/.exec(pathOnly);
      if (method === "GET" && m?.[1]) {
        const found = stored.get(m[1]);
        if (!found)
          json(res, 404, {
            error: {
              message: `No response found with id '${m[1]}'.`,
              type: "invalid_request_error",
              param: null,
              code: null,
            },
          });
        else json(res, 200, found);
        return true;
      }
      return false;
    },
  };
}
