/**
 * The OTLP ingest: OpenTelemetry trace exports (`POST /v1/traces`) whose LLM spans become calls (protocol
 * `otlp`, the span kept as the original, the trace and span ids as tags).
 *
 * The door: what other folders use, by name.
 */
export { type Attributes, type AttrValue, decodeExport, type OtlpSpan } from "./decode.ts";
export { mountTraces, OTLP_TRACES_PATH, otlpTracesOperation } from "./routes.ts";
export { isLlmSpan, type SpanCall, spanToCall } from "./spans.ts";
