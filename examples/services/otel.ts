/**
 * A service instrumented with OpenTelemetry instead of pointed at the proxy: it calls its provider directly
 * (`openai`, OPENAI_BASE_URL) and records the call as a span in the GenAI semantic conventions, as an
 * instrumentation library (OpenLLMetry, OpenInference, the AI SDK's telemetry) would; the OpenTelemetry JS SDK's
 * OTLP/HTTP exporter sends it to intersebd's `POST /v1/traces`, which stores it as a call tagged with the span's
 * trace id and span id. The answer is linked to the call by the trace id (the id a service has at hand for a
 * request, whatever made the spans in it), and annotated (request.ts).
 *
 *   npx node examples/services/otel.ts "a question"  → prints the answer's id, the trace and span ids, the call's page
 *
 * Env: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT (http://127.0.0.1:8787/v1/traces: the exporter reads it itself),
 * OPENAI_BASE_URL and OPENAI_API_KEY (the provider, called directly), INTERSEBD_URL (the intersebd server;
 * default http://127.0.0.1:8787).
 */
import { SpanKind } from "@opentelemetry/api";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-proto";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { BatchSpanProcessor, TracerProvider } from "@opentelemetry/sdk-trace";
import OpenAI from "openai";
import { handleRequest } from "./request.ts";

const tracing = new TracerProvider({
  resource: resourceFromAttributes({ "service.name": "otel-example" }),
  spanProcessors: [new BatchSpanProcessor({ exporter: new OTLPTraceExporter() })],
});
const tracer = tracing.getTracer("otel-example");
const openai = new OpenAI({ apiKey: process.env.OPENAI_API_KEY ?? "sk-demo" }); // the provider, no proxy

await handleRequest(
  "otel",
  async (question) => {
    const model = "gpt-4o-mini";
    const span = tracer.startSpan(`chat ${model}`, {
      kind: SpanKind.CLIENT,
      attributes: {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": model,
        "gen_ai.input.messages": JSON.stringify([
          { role: "user", parts: [{ type: "text", content: question }] },
        ]),
      },
    });
    const r = await openai.chat.completions.create({
      model,
      messages: [{ role: "user", content: question }],
    });
    const choice = r.choices[0];
    const text = choice?.message.content ?? "";
    span.setAttributes({
      "gen_ai.response.id": r.id,
      "gen_ai.response.model": r.model,
      "gen_ai.response.finish_reasons": [choice?.finish_reason ?? "stop"],
      "gen_ai.usage.input_tokens": r.usage?.prompt_tokens ?? 0,
      "gen_ai.usage.output_tokens": r.usage?.completion_tokens ?? 0,
      "gen_ai.output.messages": JSON.stringify([
        { role: "assistant", parts: [{ type: "text", content: text }], finish_reason: choice?.finish_reason },
      ]),
    });
    span.end();
    const { traceId, spanId } = span.spanContext();
    return { text, call: traceId, completionId: r.id, extra: { span: spanId } }; // the trace id: a tag of the call
  },
  "What do my spans carry?",
);
await tracing.shutdown(); // exports the span
