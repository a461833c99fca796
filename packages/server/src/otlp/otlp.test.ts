/**
 * `POST /v1/traces` through the socket, fed by the official OpenTelemetry JS SDK and its OTLP/HTTP exporters
 * (protobuf, and JSON gzipped): LLM spans become calls with their model, usage, messages and tags; other spans are
 * counted in partialSuccess; malformed, oversized and unauthenticated exports get a 4xx. Both stores.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { gzipSync } from "node:zlib";
import { context, SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";
import { OTLPTraceExporter as JsonExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { OTLPTraceExporter as ProtoExporter } from "@opentelemetry/exporter-trace-otlp-proto";
import { resourceFromAttributes } from "@opentelemetry/resources";
import {
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
  type SpanExporter,
  TracerProvider,
} from "@opentelemetry/sdk-trace";
import { toolCallChoices } from "../testing/calls.ts";
import { DIALECTS, eventually, serverForSuite, type TestServer } from "../testing/harness.ts";

const KEY = "otlp-test-admin-key";
const MAX = 200_000;

/** Spans made by the SDK, as an instrumented service makes them. */
async function makeSpans(
  build: (tracer: ReturnType<TracerProvider["getTracer"]>) => void,
): Promise<ReadableSpan[]> {
  const memory = new InMemorySpanExporter();
  const provider = new TracerProvider({
    resource: resourceFromAttributes({ "service.name": "billing-bot" }),
    spanProcessors: [new SimpleSpanProcessor({ exporter: memory })],
  });
  build(provider.getTracer("test-instrumentation", "1.2.3"));
  await provider.forceFlush();
  return memory.getFinishedSpans();
}

async function exportWith(exporter: SpanExporter, spans: ReadableSpan[]): Promise<void> {
  const result = await new Promise<{ code: number; error?: Error }>((resolve) =>
    exporter.export(spans, resolve),
  );
  await exporter.shutdown();
  assert.equal(result.code, 0, `export failed: ${result.error?.message}`);
}

interface CallDetail {
  id: string;
  protocol: string;
  requestedModel: string | null;
  servedModel: string | null;
  upstream: string;
  usage: { promptTokens: number | null; completionTokens: number | null };
  outcome: string;
  error: string | null;
  tags: string[];
  userId: string | null;
  sessionId: string | null;
  completionId: string | null;
  request: { model?: string; messages: Array<Record<string, unknown>>; temperature?: number } | null;
  response: {
    choices: Array<{ message: Record<string, unknown>; finish_reason: string | null }>;
  } | null;
  originalRequest?: Record<string, unknown> | null;
}

const auth = { "x-intersebd-key": KEY };

async function callsOfTrace(s: TestServer, traceId: string, count: number): Promise<CallDetail[]> {
  const list = await eventually(async () => {
    const r = await s.api<{ data: Array<{ id: string }> }>(`/api/calls?tag=${traceId}`, { headers: auth });
    assert.equal(r.status, 200);
    assert.equal(r.body.data.length, count);
    return r.body.data;
  });
  return Promise.all(
    list.map(async ({ id }) => (await s.api<CallDetail>(`/api/calls/${id}`, { headers: auth })).body),
  );
}

for (const dialect of DIALECTS) {
  describe(`OTLP trace ingest (${dialect})`, () => {
    const server = serverForSuite(dialect, { INTERSEBD_API_KEY: KEY, INTERSEBD_MAX_BODY_BYTES: String(MAX) });

    it("stores a GenAI chat span exported as protobuf as a call; the agent and HTTP spans around it are not", async (t) => {
      const s = server(t);
      if (!s) return;
      const spans = await makeSpans((tracer) => {
        const agent = tracer.startSpan("invoke_agent billing", {
          attributes: { "gen_ai.operation.name": "invoke_agent" },
        });
        const within = trace.setSpan(context.active(), agent);
        {
          const chat = tracer.startSpan(
            "chat gpt-4o-mini",
            {
              kind: SpanKind.CLIENT,
              attributes: {
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": "openai",
                "gen_ai.request.model": "gpt-4o-mini",
                "gen_ai.request.temperature": 0.2,
                "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
                "gen_ai.response.id": "chatcmpl-otlp-1",
                "gen_ai.response.finish_reasons": ["tool_calls"],
                "gen_ai.usage.input_tokens": 42,
                "gen_ai.usage.output_tokens": 7,
                "gen_ai.conversation.id": "conv-9",
                "user.id": "u-17",
                "gen_ai.system_instructions": JSON.stringify([{ type: "text", content: "You bill." }]),
                "gen_ai.input.messages": JSON.stringify([
                  { role: "user", parts: [{ type: "text", content: "What do I owe?" }] },
                ]),
                "gen_ai.output.messages": JSON.stringify([
                  {
                    role: "assistant",
                    parts: [
                      { type: "tool_call", id: "call_1", name: "balance", arguments: { account: "A" } },
                    ],
                    finish_reason: "tool_calls",
                  },
                ]),
              },
            },
            within,
          );
          chat.end();
          tracer.startSpan("GET /balance", { attributes: { "http.request.method": "GET" } }, within).end();
          agent.end();
        }
      });
      assert.equal(spans.length, 3);
      const chatSpan = spans.find((sp) => sp.name === "chat gpt-4o-mini");
      assert.ok(chatSpan);
      const { traceId, spanId } = chatSpan.spanContext();
      await exportWith(new ProtoExporter({ url: `${s.url}/v1/traces`, headers: auth }), spans);

      const [call] = await callsOfTrace(s, traceId, 1);
      assert.ok(call);
      assert.equal(call.protocol, "otlp");
      assert.equal(call.requestedModel, "gpt-4o-mini");
      assert.equal(call.servedModel, "gpt-4o-mini-2024-07-18");
      assert.equal(call.upstream, "openai");
      assert.equal(call.usage.promptTokens, 42);
      assert.equal(call.usage.completionTokens, 7);
      assert.equal(call.outcome, "ok");
      assert.equal(call.completionId, "chatcmpl-otlp-1");
      assert.equal(call.userId, "u-17");
      assert.equal(call.sessionId, "conv-9");
      assert.ok(call.tags.includes(traceId) && call.tags.includes(spanId), `tags ${call.tags}`);
      assert.deepEqual(call.request?.messages, [
        { role: "system", content: "You bill." },
        { role: "user", content: "What do I owe?" },
      ]);
      assert.equal(call.request?.temperature, 0.2);
      assert.deepEqual(call.response?.choices, toolCallChoices("call_1", "balance", '{"account":"A"}'));
      assert.equal(call.originalRequest?.spanId, spanId);
      assert.equal(call.originalRequest?.name, "chat gpt-4o-mini");
      assert.equal(
        call.originalRequest?.parentSpanId,
        spans.find((sp) => sp.name.startsWith("invoke_agent"))?.spanContext().spanId,
      );

      // The span id alone finds the call too, as link and annotate take it.
      const bySpan = await s.api<{ data: Array<{ id: string }> }>(`/api/calls?tag=${spanId}`, {
        headers: auth,
      });
      assert.deepEqual(
        bySpan.body.data.map((c) => c.id),
        [call.id],
      );
    });

    it("stores OpenLLMetry's indexed prompt and completion attributes exported as gzipped JSON, and a failed span as an error", async (t) => {
      const s = server(t);
      if (!s) return;
      const spans = await makeSpans((tracer) => {
        const wf = tracer.startSpan("workflow", { attributes: { "traceloop.span.kind": "workflow" } });
        const within = trace.setSpan(context.active(), wf);
        {
          tracer
            .startSpan(
              "openai.chat",
              {
                attributes: {
                  "llm.request.type": "chat",
                  "gen_ai.system": "openai",
                  "gen_ai.request.model": "gpt-4.1",
                  "gen_ai.prompt.0.role": "system",
                  "gen_ai.prompt.0.content": "Be brief.",
                  "gen_ai.prompt.1.role": "user",
                  "gen_ai.prompt.1.content": "Hi",
                  "gen_ai.completion.0.role": "assistant",
                  "gen_ai.completion.0.content": "Hello!",
                  "gen_ai.completion.0.finish_reason": "stop",
                  "gen_ai.usage.prompt_tokens": 11,
                  "gen_ai.usage.completion_tokens": 2,
                  "traceloop.association.properties.user_id": "u-3",
                },
              },
              within,
            )
            .end();
          const failed = tracer.startSpan(
            "openai.chat",
            {
              attributes: {
                "llm.request.type": "chat",
                "gen_ai.system": "openai",
                "gen_ai.request.model": "gpt-4.1",
              },
            },
            within,
          );
          failed.setStatus({ code: SpanStatusCode.ERROR, message: "429 rate limited" });
          failed.end();
          wf.end();
        }
      });
      const traceId = spans[0]?.spanContext().traceId ?? "";
      await exportWith(
        new JsonExporter({ url: `${s.url}/v1/traces`, headers: auth, compression: "gzip" as never }),
        spans,
      );
      const calls = await callsOfTrace(s, traceId, 2);
      const ok = calls.find((c) => c.outcome === "ok");
      const failed = calls.find((c) => c.outcome !== "ok");
      assert.ok(ok && failed);
      assert.deepEqual(ok.request?.messages, [
        { role: "system", content: "Be brief." },
        { role: "user", content: "Hi" },
      ]);
      assert.deepEqual(ok.response?.choices[0]?.message, { role: "assistant", content: "Hello!" });
      assert.equal(ok.response?.choices[0]?.finish_reason, "stop");
      assert.equal(ok.usage.promptTokens, 11);
      assert.equal(ok.userId, "u-3");
      assert.equal(failed.outcome, "upstream_error");
      assert.equal(failed.error, "429 rate limited");
      assert.equal(failed.response, null);
    });

    it("stores an OpenInference LLM span and leaves its chain span out", async (t) => {
      const s = server(t);
      if (!s) return;
      const spans = await makeSpans((tracer) => {
        const chain = tracer.startSpan("RAG chain", { attributes: { "openinference.span.kind": "CHAIN" } });
        tracer
          .startSpan(
            "ChatOpenAI",
            {
              attributes: {
                "openinference.span.kind": "LLM",
                "llm.model_name": "gpt-4o",
                "llm.provider": "openai",
                "llm.invocation_parameters": JSON.stringify({ temperature: 0 }),
                "llm.input_messages.0.message.role": "user",
                "llm.input_messages.0.message.content": "Capital of France?",
                "llm.output_messages.0.message.role": "assistant",
                "llm.output_messages.0.message.content": "Paris.",
                "llm.token_count.prompt": 9,
                "llm.token_count.completion": 3,
                "session.id": "s-1",
              },
            },
            trace.setSpan(context.active(), chain),
          )
          .end();
        chain.end();
      });
      const traceId = spans[0]?.spanContext().traceId ?? "";
      await exportWith(new ProtoExporter({ url: `${s.url}/v1/traces`, headers: auth }), spans);
      const [call] = await callsOfTrace(s, traceId, 1);
      assert.ok(call);
      assert.equal(call.requestedModel, "gpt-4o");
      assert.equal(call.usage.promptTokens, 9);
      assert.equal(call.usage.completionTokens, 3);
      assert.equal(call.sessionId, "s-1");
      assert.deepEqual(call.request?.messages, [{ role: "user", content: "Capital of France?" }]);
      assert.equal(call.request?.temperature, 0);
      assert.deepEqual(call.response?.choices[0]?.message, { role: "assistant", content: "Paris." });
    });

    it("answers the spans it did not store in partialSuccess, in the request's encoding", async (t) => {
      const s = server(t);
      if (!s) return;
      const body = {
        resourceSpans: [
          {
            scopeSpans: [
              {
                spans: [
                  { traceId: "0af7651916cd43dd8448eb211c80319c", spanId: "b7ad6b7169203331", name: "GET /" },
                  { traceId: "0af7651916cd43dd8448eb211c80319c", spanId: "b7ad6b7169203332", name: "db" },
                ],
              },
            ],
          },
        ],
      };
      const r = await fetch(`${s.url}/v1/traces`, {
        method: "POST",
        headers: { ...auth, "content-type": "application/json" },
        body: JSON.stringify(body),
      });
      assert.equal(r.status, 200);
      const answer = (await r.json()) as { partialSuccess: { rejectedSpans: string; errorMessage: string } };
      assert.equal(answer.partialSuccess.rejectedSpans, "2");
      assert.match(answer.partialSuccess.errorMessage, /2 of 2 spans are not LLM calls/);
    });

    it("refuses malformed, oversized, unsupported and unauthenticated exports with a 4xx", async (t) => {
      const s = server(t);
      if (!s) return;
      const post = (body: BodyInit, headers: Record<string, string>) =>
        fetch(`${s.url}/v1/traces`, { method: "POST", headers: { ...auth, ...headers }, body });
      const json = { "content-type": "application/json" };
      const proto = { "content-type": "application/x-protobuf" };

      const notJson = await post("{", json);
      assert.equal(notJson.status, 400);
      const status = (await notJson.json()) as { code: number; message: string; error: { code: string } };
      assert.equal(status.code, 3);
      assert.match(status.message, /not JSON/);
      assert.equal(status.error.code, "malformed_payload");

      const wrongType = await post(
        JSON.stringify({ resourceSpans: [{ scopeSpans: [{ spans: [{ traceId: 5 }] }] }] }),
        json,
      );
      assert.equal(wrongType.status, 400);
      assert.match(
        ((await wrongType.json()) as { message: string }).message,
        /resourceSpans\[0\]\.scopeSpans\[0\]\.spans\[0\]\.traceId/,
      );

      const notProto = await post(new Uint8Array([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]), proto);
      assert.equal(notProto.status, 400);
      assert.equal(notProto.headers.get("content-type"), "application/x-protobuf");

      const big = await post("x".repeat(MAX + 1), json);
      assert.equal(big.status, 413);
      const bomb = await post(gzipSync(Buffer.alloc(MAX * 4, " ")), { ...json, "content-encoding": "gzip" });
      assert.equal(bomb.status, 413);
      const badGzip = await post("not gzip", { ...json, "content-encoding": "gzip" });
      assert.equal(badGzip.status, 400);

      const text = await post("{}", { "content-type": "text/plain" });
      assert.equal(text.status, 415);

      const noKey = await fetch(`${s.url}/v1/traces`, { method: "POST", headers: json, body: "{}" });
      assert.equal(noKey.status, 401);
      const empty = await post("{}", json);
      assert.equal(empty.status, 200);
      assert.deepEqual(await empty.json(), {});
    });
  });
}
