/**
 * `POST /v1/traces`: OTLP/HTTP trace exports (protobuf or JSON, gzip allowed). Each LLM span is stored as a call
 * (spans.ts); other spans are counted in the answer's `partialSuccess` and dropped. Served beside the REST API,
 * not under `/api`, since OTLP exporters append this fixed path to their endpoint; keys as for the rest of the
 * API (scope `ingest`).
 */
import type { Context, Hono } from "hono";
import { admitCall, toCallRow } from "../calls/index.ts";
import type { AppContext } from "../context.ts";
import { HttpError } from "../http/index.ts";
import { allows, forbidden, type KeyRing } from "../keys/index.ts";
import { storeUnavailableReason } from "../store/errors.ts";
import {
  decodeExport,
  type Encoding,
  encodingOf,
  errorResponse,
  exportResponse,
  inflate,
  tooLarge,
} from "./decode.ts";
import { spanToCall } from "./spans.ts";

export const OTLP_TRACES_PATH = "/v1/traces";

const otlpError = (description: string) => ({
  description: `${description}; a google.rpc.Status (\`{ code, message }\`) in the request's encoding`,
});

/**
 * `POST /v1/traces` as the OpenAPI document states it. Not a route table's route (its bodies are protobuf or
 * OTLP's JSON, answered in kind, and exporters append this fixed path outside `/api`), so written here, beside the
 * handler, once.
 */
export const otlpTracesOperation = {
  post: {
    summary: "OTLP/HTTP trace export: each LLM span becomes a call; other spans are ignored and counted",
    description:
      "OpenTelemetry's ExportTraceServiceRequest (opentelemetry-proto), as application/x-protobuf or application/json, " +
      "gzip allowed (content-encoding). Spans that follow the GenAI semantic conventions, OpenLLMetry, OpenInference " +
      "or the AI SDK's telemetry are stored as calls with protocol `otlp`, their trace and span ids as tags.",
    "x-intersebd-scope": "ingest",
    requestBody: {
      required: true,
      content: {
        "application/x-protobuf": { schema: { type: "string", format: "binary" } },
        "application/json": {
          schema: { type: "object", description: "ExportTraceServiceRequest in proto3 JSON" },
        },
      },
    },
    responses: {
      "200": {
        description:
          "ExportTraceServiceResponse in the request's encoding; `partialSuccess.rejectedSpans` counts the spans that were not LLM calls",
        content: {
          "application/x-protobuf": { schema: { type: "string", format: "binary" } },
          "application/json": {
            schema: {
              type: "object",
              properties: {
                partialSuccess: {
                  type: "object",
                  properties: { rejectedSpans: { type: "string" }, errorMessage: { type: "string" } },
                },
              },
            },
          },
        },
      },
      "400": otlpError("not a valid export"),
      "401": otlpError("keys are on and no valid key was sent"),
      "403": otlpError("the key lacks the ingest scope"),
      "413": otlpError("the body, or the body once inflated, is too large"),
      "415": otlpError("neither application/x-protobuf nor application/json"),
      "503": otlpError("the store is unreachable; the exporter retries"),
    },
  },
};

/** Mounts `POST /v1/traces` on the server's root app, checking keys against `keys`. */
export function mountTraces(root: Hono, ctx: AppContext, keys: KeyRing): void {
  root.post(OTLP_TRACES_PATH, (c) => handleTraces(c, ctx, keys));
}

async function handleTraces(c: Context, ctx: AppContext, keys: KeyRing): Promise<Response> {
  const encoding = encodingOf(c.req.header("content-type"));
  // Errors are answered in the request's encoding; JSON for one OTLP does not define.
  const fail = (err: HttpError, as: Encoding = encoding ?? "json") => {
    const { body, contentType } = errorResponse(err, as);
    return c.body(body as string, err.status as 400, { "content-type": contentType });
  };
  try {
    if (keys.enabled) {
      const bearer = c.req.header("authorization")?.replace(/^Bearer\s+/i, "");
      const who = keys.authenticate(c.req.header("x-intersebd-key") ?? bearer);
      if (who instanceof HttpError) return fail(who);
      if (!allows(who, "ingest")) return fail(forbidden(who, "ingest", `POST ${OTLP_TRACES_PATH}`));
    }
    if (!encoding)
      return fail(
        new HttpError(
          415,
          `content-type ${c.req.header("content-type") ?? "(none)"} is not OTLP/HTTP: send application/x-protobuf or application/json`,
          { field: "content-type", code: "unsupported_media_type" },
        ),
      );
    const max = ctx.config.maxBodyBytes;
    const body = inflate(await readBody(c.req.raw, max), c.req.header("content-encoding"), max);
    const spans = decodeExport(body, encoding);
    let ignored = 0;
    const rows = [];
    for (const span of spans) {
      const call = spanToCall(span);
      if (!call) {
        ignored++;
        continue;
      }
      // Sampling and user id hashing as for every captured call; a sampled-out span is not a rejected one.
      const kept = admitCall(ctx.config, ctx.metrics, call, false);
      if (kept) rows.push(toCallRow(kept, ctx.config.capture, ctx.config.redactPatterns));
    }
    if (rows.length) {
      try {
        await ctx.recorder.insert(rows);
      } catch (err) {
        // As POST /api/calls: only an unreachable store sends them to the spool, which keeps them until it answers.
        if (await ctx.store.ping()) throw err;
        for (const r of rows) ctx.recorder.record(r);
      }
    }
    const answer = exportResponse(
      encoding,
      ignored,
      ignored ? `${ignored} of ${spans.length} spans are not LLM calls and were not stored` : "",
    );
    return c.body(answer.body as string, 200, { "content-type": answer.contentType });
  } catch (err) {
    if (err instanceof HttpError) return fail(err);
    const unavailable = storeUnavailableReason(err);
    if (unavailable) {
      c.header("Retry-After", "1");
      return fail(new HttpError(503, `the database is unavailable (${unavailable}); retry shortly`));
    }
    ctx.log.error(`POST ${OTLP_TRACES_PATH}: ${(err as Error).stack ?? String(err)}`, { component: "otlp" });
    return fail(new HttpError(500, "internal error; the server log has the details"));
  }
}

/** The body, refused past `max` bytes before it is all read (a declared length is refused unread). */
async function readBody(req: Request, max: number): Promise<Buffer> {
  if (Number(req.headers.get("content-length")) > max) throw tooLarge(max);
  if (!req.body) return Buffer.alloc(0);
  const reader = req.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > max) {
      await reader.cancel();
      throw tooLarge(max);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks);
}
