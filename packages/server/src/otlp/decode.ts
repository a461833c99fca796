/**
 * OTLP/HTTP trace exports in, answers out: the body (protobuf or JSON, gzip allowed) decoded against the official
 * opentelemetry-proto definitions (proto.ts) by protobufjs, validated by one zod schema for both encodings, and
 * flattened into spans with plain attribute values. Answers and errors go back in the request's encoding, as OTLP
 * asks (an `ExportTraceServiceResponse`, or a `google.rpc.Status`).
 */
import { gunzipSync } from "node:zlib";
import type protobuf from "protobufjs";
import { z } from "zod";
import { HttpError } from "../http/index.ts";
import { jsonDepth, MAX_JSON_DEPTH } from "../util/bounds.ts";
import { onFirstUse } from "../util/on-first-use.ts";
import { fieldPath, issueMessage } from "../util/zod-issues.ts";
import { OTLP_TRACE_PROTOS } from "./proto.ts";

/** An attribute's value, as JSON: OTLP's `AnyValue` without its wrapper (bytes as base64, 64-bit ints as numbers when safe). */
export type AttrValue = string | number | boolean | null | AttrValue[] | { [key: string]: AttrValue };
export type Attributes = Record<string, AttrValue>;

/** One span with its resource's and scope's identity: what a call is made of, and kept as its original. */
export interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string | null;
  name: string;
  /** OTLP's SpanKind number (3 CLIENT for a call to a model). */
  kind: number;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes: Attributes;
  events: Array<{ name: string; timeUnixNano: string; attributes: Attributes }>;
  /** OTLP's status code: 0 unset, 1 ok, 2 error. */
  status: { code: number; message: string };
  resource: Attributes;
  scope: { name: string; version: string };
}

export type Encoding = "protobuf" | "json";

/**
 * google.rpc.Status, the error body OTLP/HTTP specifies (github.com/googleapis/googleapis,
 * google/rpc/status.proto; `details` is a repeated Any, left out: nothing is sent in it).
 */
const STATUS_PROTO = `syntax = "proto3"; package google.rpc; message Status { int32 code = 1; string message = 2; }`;

const protobufjs = onFirstUse<typeof protobuf>("protobufjs");
let types: { request: protobuf.Type; response: protobuf.Type; status: protobuf.Type } | undefined;
/** Parsed once, on the first protobuf export or answer: a server that never sees one never pays for it. */
function protoTypes() {
  if (types) return types;
  const lib = protobufjs();
  const root = new lib.Root();
  // Dependencies first: each file's imports are already in the root when it is parsed.
  for (const source of Object.values(OTLP_TRACE_PROTOS)) lib.parse(source, root);
  lib.parse(STATUS_PROTO, root);
  root.resolveAll();
  types = {
    request: root.lookupType("opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest"),
    response: root.lookupType("opentelemetry.proto.collector.trace.v1.ExportTraceServiceResponse"),
    status: root.lookupType("google.rpc.Status"),
  };
  return types;
}

/** The encoding a `content-type` names; undefined for one OTLP/HTTP does not define. */
export function encodingOf(contentType: string | undefined): Encoding | undefined {
  const type = contentType?.split(";")[0]?.trim().toLowerCase();
  if (type === "application/x-protobuf" || type === "application/protobuf") return "protobuf";
  if (type === "application/json") return "json";
  return undefined;
}

/**
 * The body's bytes, gunzipped when `content-encoding` says gzip, never more than `maxBytes` once inflated (a
 * small gzip can inflate to gigabytes).
 * @throws HttpError 413 past `maxBytes`, 400 for a gzip that does not inflate, 415 for another encoding.
 */
export function inflate(body: Buffer, contentEncoding: string | undefined, maxBytes: number): Buffer {
  const encoding = contentEncoding?.trim().toLowerCase() || "identity";
  if (encoding === "identity") return body;
  if (encoding !== "gzip")
    throw new HttpError(415, `content-encoding ${encoding} is not supported (send gzip or none)`, {
      field: "content-encoding",
      code: "unsupported_encoding",
    });
  try {
    return gunzipSync(body, { maxOutputLength: maxBytes });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ERR_BUFFER_TOO_LARGE") throw tooLarge(maxBytes, "inflated");
    throw new HttpError(400, `request body is not valid gzip: ${(err as Error).message}`, {
      field: "content-encoding",
      code: "malformed_payload",
    });
  }
}

export const tooLarge = (maxBytes: number, how = "") =>
  new HttpError(
    413,
    `request body${how ? ` ${how}` : ""} exceeds ${maxBytes} bytes (INTERSEBD_MAX_BODY_BYTES)`,
    { code: "payload_too_large" },
  );

const malformed = (what: string, field?: string) =>
  new HttpError(400, `malformed OTLP trace export: ${what}`, { field, code: "malformed_payload" });

// Both encodings decode to the same field names (protobufjs camel-cases them, as proto3's JSON mapping does);
// they differ in ids and bytes (Uint8Array in protobuf, hex or base64 text in JSON), 64-bit integers (text or
// number in JSON) and enums (a number, or its name in JSON).
const bytes = z.union([z.string(), z.instanceof(Uint8Array)]);
const int64 = z.union([z.string().regex(/^-?\d+$/, "expected an integer"), z.number().int()]);
const enumValue = z.union([z.number().int(), z.string()]);

interface RawAnyValue {
  stringValue?: string;
  boolValue?: boolean;
  intValue?: string | number;
  doubleValue?: number | string;
  bytesValue?: string | Uint8Array;
  arrayValue?: { values?: RawAnyValue[] };
  kvlistValue?: { values?: RawKeyValue[] };
}
interface RawKeyValue {
  key: string;
  value?: RawAnyValue | null;
}
const anyValue: z.ZodType<RawAnyValue> = z.lazy(() =>
  z.object({
    stringValue: z.string().optional(),
    boolValue: z.boolean().optional(),
    intValue: int64.optional(),
    // proto3 JSON writes NaN and the infinities as text.
    doubleValue: z.union([z.number(), z.string()]).optional(),
    bytesValue: bytes.optional(),
    arrayValue: z.object({ values: z.array(anyValue).optional() }).optional(),
    kvlistValue: z.object({ values: z.array(keyValue).optional() }).optional(),
  }),
);
const keyValue: z.ZodType<RawKeyValue> = z.lazy(() =>
  z.object({ key: z.string(), value: anyValue.nullish() }),
);
const attributes = z.array(keyValue).optional();

const spanSchema = z.object({
  traceId: bytes,
  spanId: bytes,
  parentSpanId: bytes.optional(),
  name: z.string().optional(),
  kind: enumValue.optional(),
  startTimeUnixNano: int64.optional(),
  endTimeUnixNano: int64.optional(),
  attributes,
  events: z
    .array(z.object({ timeUnixNano: int64.optional(), name: z.string().optional(), attributes }))
    .optional(),
  status: z.object({ code: enumValue.optional(), message: z.string().optional() }).optional(),
});
const exportSchema = z.object({
  resourceSpans: z
    .array(
      z.object({
        resource: z.object({ attributes }).nullish(),
        scopeSpans: z
          .array(
            z.object({
              scope: z.object({ name: z.string().optional(), version: z.string().optional() }).nullish(),
              spans: z.array(spanSchema).optional(),
            }),
          )
          .optional(),
      }),
    )
    .optional(),
});

/**
 * The spans of one export, in order.
 * @throws HttpError 400 naming what is malformed (not protobuf of this message, not JSON, a field of the wrong type).
 */
export function decodeExport(body: Buffer, encoding: Encoding): OtlpSpan[] {
  let raw: unknown;
  if (encoding === "protobuf") {
    const { request } = protoTypes();
    try {
      raw = request.toObject(request.decode(body), { longs: String });
    } catch (err) {
      throw malformed(`not an ExportTraceServiceRequest in protobuf (${(err as Error).message})`);
    }
  } else {
    try {
      raw = JSON.parse(body.toString("utf8"));
    } catch (err) {
      throw malformed(`not JSON (${(err as Error).message})`);
    }
  }
  // zod and the store recurse; a deep kvlist would overflow the stack (a 500) instead of being refused.
  const depth = jsonDepth(raw);
  if (depth > MAX_JSON_DEPTH) throw malformed(`nested ${depth} levels deep; at most ${MAX_JSON_DEPTH}`);
  const parsed = exportSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = fieldPath(issue?.path ?? []);
    throw malformed(`field ${field || "(root)"}: ${issueMessage(issue)}`, field || undefined);
  }
  const spans: OtlpSpan[] = [];
  for (const rs of parsed.data.resourceSpans ?? []) {
    const resource = attrs(rs.resource?.attributes);
    for (const ss of rs.scopeSpans ?? []) {
      const scope = { name: ss.scope?.name ?? "", version: ss.scope?.version ?? "" };
      for (const s of ss.spans ?? []) {
        spans.push({
          traceId: hexId(s.traceId),
          spanId: hexId(s.spanId),
          parentSpanId: s.parentSpanId === undefined ? null : hexId(s.parentSpanId) || null,
          name: s.name ?? "",
          kind: enumNumber(s.kind, SPAN_KINDS),
          startTimeUnixNano: String(s.startTimeUnixNano ?? "0"),
          endTimeUnixNano: String(s.endTimeUnixNano ?? "0"),
          attributes: attrs(s.attributes),
          events: (s.events ?? []).map((e) => ({
            name: e.name ?? "",
            timeUnixNano: String(e.timeUnixNano ?? "0"),
            attributes: attrs(e.attributes),
          })),
          status: {
            code: enumNumber(s.status?.code, STATUS_CODES),
            message: s.status?.message ?? "",
          },
          resource,
          scope,
        });
      }
    }
  }
  return spans;
}

const SPAN_KINDS = [
  "SPAN_KIND_UNSPECIFIED",
  "SPAN_KIND_INTERNAL",
  "SPAN_KIND_SERVER",
  "SPAN_KIND_CLIENT",
  "SPAN_KIND_PRODUCER",
  "SPAN_KIND_CONSUMER",
];
const STATUS_CODES = ["STATUS_CODE_UNSET", "STATUS_CODE_OK", "STATUS_CODE_ERROR"];
function enumNumber(v: number | string | undefined, names: string[]): number {
  if (typeof v === "number") return v;
  return v === undefined ? 0 : Math.max(0, names.indexOf(v));
}

/** OTLP/JSON writes ids as hex (not base64, unlike other bytes); protobuf has the bytes. */
function hexId(v: string | Uint8Array): string {
  return typeof v === "string" ? v.toLowerCase() : Buffer.from(v).toString("hex");
}

function attrs(list: RawKeyValue[] | undefined): Attributes {
  const out: Attributes = {};
  for (const kv of list ?? []) out[kv.key] = plainValue(kv.value);
  return out;
}

function plainValue(v: RawAnyValue | null | undefined): AttrValue {
  if (!v) return null;
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.boolValue !== undefined) return v.boolValue;
  if (v.intValue !== undefined) {
    const n = Number(v.intValue);
    return Number.isSafeInteger(n) ? n : String(v.intValue);
  }
  if (v.doubleValue !== undefined) {
    const n = Number(v.doubleValue);
    return Number.isFinite(n) ? n : String(v.doubleValue);
  }
  if (v.bytesValue !== undefined)
    return typeof v.bytesValue === "string" ? v.bytesValue : Buffer.from(v.bytesValue).toString("base64");
  if (v.arrayValue) return (v.arrayValue.values ?? []).map(plainValue);
  if (v.kvlistValue) return attrs(v.kvlistValue.values);
  return null;
}

/** OTLP's answer: `partialSuccess` only when spans were rejected (left empty otherwise, as the spec asks). */
export function exportResponse(
  encoding: Encoding,
  rejectedSpans: number,
  errorMessage: string,
): { body: Uint8Array | string; contentType: string } {
  const value = rejectedSpans > 0 ? { partialSuccess: { rejectedSpans, errorMessage } } : {};
  if (encoding === "json")
    return {
      // proto3 JSON writes an int64 as text.
      body: JSON.stringify(
        rejectedSpans > 0 ? { partialSuccess: { rejectedSpans: String(rejectedSpans), errorMessage } } : {},
      ),
      contentType: "application/json",
    };
  const { response } = protoTypes();
  return {
    body: response.encode(response.fromObject(value)).finish(),
    contentType: "application/x-protobuf",
  };
}

/** gRPC's code for an HTTP status, as google.rpc.Status carries it. */
function grpcCode(status: number): number {
  if (status === 400 || status === 415) return 3; // INVALID_ARGUMENT
  if (status === 401) return 16; // UNAUTHENTICATED
  if (status === 403) return 7; // PERMISSION_DENIED
  if (status === 413) return 8; // RESOURCE_EXHAUSTED
  if (status === 503) return 14; // UNAVAILABLE
  return 13; // INTERNAL
}

/**
 * An error as OTLP/HTTP answers it: a `google.rpc.Status` in the request's encoding. In JSON it also carries
 * the `error` object every other intersebd answer has, so one client reads both.
 */
export function errorResponse(
  err: HttpError,
  encoding: Encoding,
): { body: Uint8Array | string; contentType: string } {
  const code = grpcCode(err.status);
  if (encoding === "json")
    return {
      body: JSON.stringify({ code, message: err.message, ...err.toJSON() }),
      contentType: "application/json",
    };
  const { status } = protoTypes();
  return {
    body: status.encode(status.fromObject({ code, message: err.message })).finish(),
    contentType: "application/x-protobuf",
  };
}
