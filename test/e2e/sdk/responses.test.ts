/**
 * `wrapOpenAI` capturing `responses.create` with the official `openai` client against a small local server that
 * answers the Responses API as its reference documents it (a response object, or a stream of typed events):
 * the caller gets what an unwrapped client gives, and each call arrives at the real server through
 * `POST /api/calls` with `protocol: "responses"`, its bodies as sent and received (a stream's as the client's
 * `finalResponse()` builds it) and their chat shape, findable by the response id.
 */
import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { DIALECTS, startTestServer, type TestServer } from "@intersebd/server/testing";
import { Intersebd, type IntersebdError } from "intersebd";
import OpenAI from "openai";
import { type Body, errorSink, uniqueTag } from "./helpers.ts";

const WEATHER_TOOL = {
  type: "function" as const,
  name: "get_weather",
  description: "Current weather in a city",
  parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
  strict: false,
};

type Item = Record<string, unknown>;

/** A response object as the API sends it (no `output_text`: the client adds that). */
function responseObject(id: string, status: string, output: Item[], extra: Item = {}): Item {
  return {
    id,
    object: "response",
    created_at: 1741476542,
    status,
    error: null,
    incomplete_details: null,
    instructions: "Be brief.",
    max_output_tokens: null,
    model: "gpt-4.1-2025-04-14",
    output,
    parallel_tool_calls: true,
    previous_response_id: null,
    reasoning: { effort: null, summary: null },
    store: true,
    temperature: 1,
    text: { format: { type: "text" } },
    tool_choice: "auto",
    tools: [],
    top_p: 1,
    truncation: "disabled",
    usage:
      status === "in_progress"
        ? null
        : {
            input_tokens: 36,
            input_tokens_details: { cached_tokens: 0 },
            output_tokens: 87,
            output_tokens_details: { reasoning_tokens: 0 },
            total_tokens: 123,
          },
    user: null,
    metadata: {},
    ...extra,
  };
}

const message = (id: string, text: string): Item => ({
  id,
  type: "message",
  status: "completed",
  role: "assistant",
  content: [{ type: "output_text", text, annotations: [] }],
});

/** The documented event sequence of a text answer, its text in `pieces`. */
function textEvents(id: string, pieces: string[]): Item[] {
  const text = pieces.join("");
  const msg = `msg_${id}`;
  return [
    { type: "response.created", response: responseObject(id, "in_progress", []) },
    { type: "response.in_progress", response: responseObject(id, "in_progress", []) },
    {
      type: "response.output_item.added",
      output_index: 0,
      item: { id: msg, type: "message", status: "in_progress", role: "assistant", content: [] },
    },
    {
      type: "response.content_part.added",
      item_id: msg,
      output_index: 0,
      content_index: 0,
      part: { type: "output_text", text: "", annotations: [] },
    },
    ...pieces.map((delta) => ({
      type: "response.output_text.delta",
      item_id: msg,
      output_index: 0,
      content_index: 0,
      delta,
    })),
    { type: "response.output_text.done", item_id: msg, output_index: 0, content_index: 0, text },
    {
      type: "response.content_part.done",
      item_id: msg,
      output_index: 0,
      content_index: 0,
      part: { type: "output_text", text, annotations: [] },
    },
    { type: "response.output_item.done", output_index: 0, item: message(msg, text) },
    { type: "response.completed", response: responseObject(id, "completed", [message(msg, text)]) },
  ];
}

/** Two parallel function calls, their arguments in pieces. */
function toolEvents(id: string): Item[] {
  const calls = [
    { id: "fc_1", call_id: "call_paris", args: ['{"ci', 'ty":"Pa', 'ris"}'] },
    { id: "fc_2", call_id: "call_rome", args: ['{"city"', ':"Rome"}'] },
  ];
  const done = (c: (typeof calls)[number]) => ({
    id: c.id,
    type: "function_call",
    status: "completed",
    name: "get_weather",
    call_id: c.call_id,
    arguments: c.args.join(""),
  });
  return [
    { type: "response.created", response: responseObject(id, "in_progress", []) },
    ...calls.flatMap((c, i) => [
      {
        type: "response.output_item.added",
        output_index: i,
        item: { ...done(c), status: "in_progress", arguments: "" },
      },
      ...c.args.map((delta) => ({
        type: "response.function_call_arguments.delta",
        item_id: c.id,
        output_index: i,
        delta,
      })),
      {
        type: "response.function_call_arguments.done",
        item_id: c.id,
        output_index: i,
        arguments: c.args.join(""),
      },
      { type: "response.output_item.done", output_index: i, item: done(c) },
    ]),
    { type: "response.completed", response: responseObject(id, "completed", calls.map(done)) },
  ];
}

/** Answers `POST /v1/responses` as the API does; `x-test-answer` picks text, tools, failed or an HTTP error. */
async function startResponsesServer(): Promise<{ url: string; close(): Promise<void> }> {
  let n = 0;
  const server = http.createServer((req, res) => {
    let body = "";
    req.on("data", (c) => {
      body += c;
    });
    req.on("end", () => {
      const params = JSON.parse(body || "{}") as { stream?: boolean; input?: unknown };
      const id = `resp_test${(++n).toString().padStart(4, "0")}`;
      const answer = String(req.headers["x-test-answer"] ?? "text");
      if (answer === "error") {
        res.writeHead(400, { "content-type": "application/json" });
        res.end(
          JSON.stringify({
            error: {
              message: "Invalid 'input': empty.",
              type: "invalid_request_error",
              param: "input",
              code: null,
            },
          }),
        );
        return;
      }
      const input = typeof params.input === "string" ? params.input : "";
      const events =
        answer === "tools"
          ? toolEvents(id)
          : answer === "failed"
            ? [
                { type: "response.created", response: responseObject(id, "in_progress", []) },
                {
                  type: "response.failed",
                  response: responseObject(id, "failed", [], {
                    error: { code: "server_error", message: "The model failed to answer." },
                  }),
                },
              ]
            : textEvents(id, ["echo", ": ", input]);
      if (!params.stream) {
        const last = events.at(-1) as { response: Item };
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify(last.response));
        return;
      }
      res.writeHead(200, { "content-type": "text/event-stream" });
      for (const [i, e] of events.entries())
        res.write(`event: ${e.type}\ndata: ${JSON.stringify({ ...e, sequence_number: i })}\n\n`);
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

for (const dialect of DIALECTS) {
  describe(`wrapOpenAI capturing responses.create (${dialect})`, () => {
    let upstream: { url: string; close(): Promise<void> };
    let server: TestServer;
    let sdk: Intersebd;
    let errors: IntersebdError[];

    const newClient = () =>
      new OpenAI({ baseURL: upstream.url, apiKey: "sk-test-not-stored", maxRetries: 0 });

    async function storedCall(idOrTag: string): Promise<Body> {
      await sdk.flush();
      const r = await server.api<Body>(`/api/calls/${encodeURIComponent(idOrTag)}`);
      assert.equal(r.status, 200, `call ${idOrTag} should be stored: ${JSON.stringify(r.body)}`);
      return r.body;
    }

    async function callsTagged(tag: string): Promise<Body[]> {
      await sdk.flush();
      const r = await server.api<Body>(`/api/calls?tag=${encodeURIComponent(tag)}`);
      assert.equal(r.status, 200);
      return r.body.data;
    }

    before(async () => {
      upstream = await startResponsesServer();
      server = await startTestServer(dialect);
      const sink = errorSink();
      errors = sink.errors;
      sdk = new Intersebd({ baseURL: server.url, onError: sink.onError, flushIntervalMs: 60_000 });
    });
    after(async () => {
      await server.stop();
      await upstream.close();
    });

    it("returns the same response, and records it with protocol responses, its originals and chat shape", async () => {
      const client = newClient();
      const wrapped = sdk.wrapOpenAI(client, { userId: "user-r", tags: ["responses-test"] });
      assert.equal(wrapped, client);
      const { data: r, response } = await wrapped.responses
        .create({ model: "gpt-4.1", instructions: "Be brief.", input: "hello responses" })
        .withResponse();
      assert.equal(response.status, 200, "the APIPromise helpers still work");
      assert.equal(r.output_text, "echo: hello responses", "the client's own conveniences are there");

      const call = await storedCall(r.id);
      assert.equal(call.protocol, "responses");
      assert.equal(call.path, "/responses");
      assert.equal(call.stream, false);
      assert.equal(call.outcome, "ok");
      assert.deepEqual(call.originalRequest, {
        model: "gpt-4.1",
        instructions: "Be brief.",
        input: "hello responses",
      });
      assert.deepEqual(call.originalResponse, JSON.parse(JSON.stringify(r)));
      assert.deepEqual(call.request.messages[0], { role: "system", content: "Be brief." });
      assert.equal(call.response.choices[0].message.content, "echo: hello responses");
      assert.equal(call.completionId, r.id, "the response id is the call's tag");
      assert.equal(call.userId, "user-r");
      assert.ok(call.tags.includes("responses-test"));
      assert.ok(!JSON.stringify(call).includes("sk-test-not-stored"), "the API key is not captured");
    });

    it("streams the same events as an unwrapped client and records what finalResponse() builds", async () => {
      const tag = uniqueTag("stream");
      const wrapped = sdk.wrapOpenAI(newClient(), { tags: [tag] });
      const params = { model: "gpt-4.1", input: "stream this", stream: true as const };
      const got: OpenAI.Responses.ResponseStreamEvent[] = [];
      for await (const event of await wrapped.responses.create(params)) got.push(event);
      const expected: OpenAI.Responses.ResponseStreamEvent[] = [];
      for await (const event of await newClient().responses.create(params)) expected.push(event);
      const blank = (events: unknown[]) => JSON.stringify(events).replaceAll(/resp_test\d+/g, "resp_X");
      assert.equal(blank(got), blank(expected));

      const [listed] = await callsTagged(tag);
      const call = await storedCall(listed?.id);
      assert.equal(call.stream, true);
      assert.equal(typeof call.ttftMs, "number");
      const final = await newClient()
        .responses.stream({ model: "gpt-4.1", input: "stream this" })
        .finalResponse();
      const { output_parsed: _, ...sent } = JSON.parse(JSON.stringify(final)) as Body;
      // finalResponse() marks what it parsed for structured outputs (`parsed`); no server sends that.
      const unparsed = JSON.parse(JSON.stringify(sent).replaceAll(',"parsed":null', "")) as Body;
      assert.deepEqual(
        {
          ...call.originalResponse,
          id: "X",
          output: call.originalResponse.output.map((o: Body) => ({ ...o, id: "X" })),
        },
        { ...unparsed, id: "X", output: unparsed.output.map((o: Body) => ({ ...o, id: "X" })) },
      );
      assert.equal(call.response.choices[0].message.content, "echo: stream this");
    });

    it("captures responses.stream() and parallel function calls, merged as the client merges them", async () => {
      const wrapped = sdk.wrapOpenAI(newClient());
      const final = await wrapped.responses
        .stream(
          { model: "gpt-4.1", input: "weather in Paris and Rome?", tools: [WEATHER_TOOL] },
          { headers: { "x-test-answer": "tools" } },
        )
        .finalResponse();
      const call = await storedCall(final.id);
      assert.equal(call.protocol, "responses");
      assert.deepEqual(
        call.originalResponse.output.map((o: Body) => [o.call_id, o.arguments]),
        [
          ["call_paris", '{"city":"Paris"}'],
          ["call_rome", '{"city":"Rome"}'],
        ],
      );
      assert.deepEqual(
        call.response.choices[0].message.tool_calls.map((t: Body) => [t.id, t.function.arguments]),
        [
          ["call_paris", '{"city":"Paris"}'],
          ["call_rome", '{"city":"Rome"}'],
        ],
      );
      assert.deepEqual(errors, []);
    });

    it("records a failed response as upstream_error and an HTTP error with its status", async () => {
      const tag = uniqueTag("errors");
      const failedStream = sdk.wrapOpenAI(newClient(), { tags: [tag, "failed"] });
      for await (const event of await failedStream.responses.create(
        { model: "gpt-4.1", input: "x", stream: true },
        { headers: { "x-test-answer": "failed" } },
      ))
        assert.ok(event.type.startsWith("response."));
      const refused = sdk.wrapOpenAI(newClient(), { tags: [tag, "http"] });
      await assert.rejects(
        refused.responses.create({ model: "gpt-4.1", input: "" }, { headers: { "x-test-answer": "error" } }),
        (err: unknown) => err instanceof OpenAI.BadRequestError,
      );
      const calls = await callsTagged(tag);
      const byTag = (t: string) => calls.find((c) => c.tags.includes(t));
      assert.equal(byTag("failed")?.outcome, "upstream_error");
      assert.equal(byTag("failed")?.status, 200);
      assert.match(byTag("failed")?.error ?? "", /The model failed to answer/);
      assert.equal(byTag("http")?.outcome, "upstream_error");
      assert.equal(byTag("http")?.status, 400);
    });

    it("wraps a client that has only responses.create", async () => {
      const tag = uniqueTag("only");
      const full = newClient();
      const only = { responses: full.responses };
      sdk.wrapOpenAI(only, { tags: [tag] });
      await only.responses.create({ model: "gpt-4.1", input: "only responses" });
      assert.equal((await callsTagged(tag)).length, 1);
    });
  });
}
