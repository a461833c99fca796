/**
 * The proxy's side of experiments: reading a chat completion's body whole (only while experiments exist), asking
 * the router which experiment and variant it goes through, and what then goes upstream. A request no experiment
 * applies to keeps its own bytes; its body is not even parsed unless it could join one (a header, an `"exp:`
 * alias in it, or an experiment with a `match` filter).
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Upstream } from "../config/index.ts";
import type { LiveExperiments } from "../experiments/live.ts";
import { type Routed, routeChat } from "../experiments/router.ts";

export { unknownExperiment } from "../experiments/router.ts";

import type { Experiment } from "../experiments/schemas.ts";
import { HttpError } from "../http/error.ts";
import type { CallContext } from "./headers.ts";
import type { ProxyRoute } from "./route.ts";

export type { LiveExperiments } from "../experiments/live.ts";

/** What a call routed through a shadow experiment hands the shadow runner, in memory only. */
export interface ShadowHandoff {
  experiment: Experiment;
  /** The client's own `authorization` header value: never stored, never logged. */
  secrets: { authorization?: string };
}

/** True when a chat request's body must be read whole before it is sent: some experiment exists. */
export const routesChats = (live: LiveExperiments | undefined): live is LiveExperiments =>
  live !== undefined && !live.empty;

const ALIAS_BYTES = Buffer.from('"exp:');

export interface Decision {
  route: ProxyRoute;
  /** The bytes to send: the request's own, or the variant's body. */
  body: Buffer;
  /** `body` as the JSON object it was parsed to (or serialised from), when it is one: the record's, not parsed again. */
  request?: Record<string, unknown>;
  routed?: Routed;
}

/**
 * Which experiment the request goes through and what it sends. A bug in routing must not fail the request: any
 * error but the client's own (an HttpError: unknown experiment, bad variant header) forwards it unrouted.
 * @throws HttpError for a request that names an experiment or variant wrongly.
 */
export function decide(
  body: Buffer,
  route: ProxyRoute,
  context: CallContext,
  callId: string,
  live: LiveExperiments,
  upstreams: Map<string, Upstream>,
  onBug: (err: unknown) => void = () => {},
): Decision {
  if (!context.experiment && !context.shadowOf && !live.matching && !body.includes(ALIAS_BYTES))
    return { route, body };
  let request: Record<string, unknown> | undefined;
  try {
    // A request that names its experiment and the variant its service applied needs its body only to resolve an
    // `exp:` alias: without one it is not parsed here (nor anything else the router would read of it).
    const needsBody =
      !(context.experiment && context.variant && !context.shadowOf) || body.includes(ALIAS_BYTES);
    request = needsBody ? jsonObject(body) : undefined;
    const routed = routeChat({ body: request, context, upstream: route.upstream.name, callId }, live);
    if (!routed) return { route, body, request };
    let next = route;
    const upstream = routed.upstream ? upstreams.get(routed.upstream) : undefined;
    if (upstream) next = { ...route, upstream, upstreamPath: upstream.baseUrl.pathname + route.rest };
    if (!routed.body) return { route: next, body, request, routed };
    return { route: next, body: Buffer.from(JSON.stringify(routed.body)), request: routed.body, routed };
  } catch (err) {
    if (err instanceof HttpError && err.status < 500) throw err;
    onBug(err);
    return { route, body, request };
  }
}

function jsonObject(body: Buffer): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(body.toString("utf8"));
    return v && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Reads a request body whole, within `max` bytes; calls `done` with it, or answers 413 itself. A client that
 * leaves meanwhile gets nothing (no upstream request was made).
 */
export function readBody(
  req: IncomingMessage,
  res: ServerResponse,
  max: number,
  tooLarge: () => HttpError,
  send: (res: ServerResponse, err: HttpError, headers: Record<string, string>) => void,
  done: (body: Buffer) => void,
): void {
  const chunks: Buffer[] = [];
  let received = 0;
  const onData = (chunk: Buffer) => {
    received += chunk.length;
    if (received > max) {
      req.off("data", onData);
      req.off("end", onEnd);
      req.resume();
      send(res, tooLarge(), { connection: "close" });
      return;
    }
    chunks.push(chunk);
  };
  const onEnd = () => done(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, received));
  req.on("data", onData);
  req.on("end", onEnd);
  req.on("error", () => {});
}

/** The raw headers with `content-length` set to `length` (a rewritten body, or one that came chunked). */
export function withLength(headers: string[], length: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < headers.length; i += 2)
    if ((headers[i] as string).toLowerCase() !== "content-length")
      out.push(headers[i] as string, headers[i + 1] as string);
  out.push("content-length", String(length));
  return out;
}

/** The client's authorization header value, for a shadow run (held in memory only). */
export function authorizationOf(headers: string[]): string | undefined {
  for (let i = 0; i < headers.length; i += 2)
    if ((headers[i] as string).toLowerCase() === "authorization") return headers[i + 1];
  return undefined;
}
