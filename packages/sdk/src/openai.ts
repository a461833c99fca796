/**
 * `wrapOpenAI`: in-process capture of `chat.completions.create` and `responses.create` for services that cannot
 * point their client at the proxy (capture.ts does the work). A Responses call is recorded with
 * `protocol: "responses"` and its bodies as sent and received (a stream's events reassembled as the client's
 * `finalResponse()` builds them); the server stores it beside its chat-shaped conversion.
 *
 * No import of `openai` here: the client is typed structurally, so the SDK keeps no dependency.
 */

import {
  type CallContext,
  type CallSink,
  copying,
  type Protocol,
  patchCreates,
  type WrapOptions,
} from "./capture.ts";
import { ChatCompletionAssembler, ResponsesAssembler } from "./chat/index.ts";

export type { CallContext, CallSink };

/**
 * Options of `wrapOpenAI`: a {@link CallContext} for every call, or a function computing one from the
 * request params at each call (for per-request session and user ids).
 *
 * @example
 * ```ts
 * const options: WrapOpenAIOptions = (request) => ({ userId: requestContext().userId, tags: [String(request.model)] });
 * ```
 */
export type WrapOpenAIOptions = WrapOptions;

/**
 * The shape `wrapOpenAI` needs: the official `openai` client (v4 to v6) or anything with
 * `chat.completions.create` (and, to capture the Responses API, `responses.create`).
 *
 * @example
 * ```ts
 * const client: ChatCompletionsClient = new OpenAI();
 * ```
 */
export interface ChatCompletionsClient {
  chat: { completions: { create: (...args: never[]) => unknown } };
}

/**
 * Any client `wrapOpenAI` can wrap: one with `chat.completions.create`, `responses.create` or both.
 *
 * @example
 * ```ts
 * const client: OpenAIClient = new OpenAI();
 * ```
 */
export type OpenAIClient =
  | ChatCompletionsClient
  | { responses: { create: (...args: never[]) => unknown }; chat?: unknown };

const CHAT: Protocol = {
  wrapper: "wrapOpenAI",
  path: "/chat/completions",
  accumulator: () => new ChatCompletionAssembler(),
};

const RESPONSES: Protocol = {
  wrapper: "wrapOpenAI",
  protocol: "responses",
  path: "/responses",
  accumulator: () => copying(new ResponsesAssembler()),
  // A response may come whole (or a stream end) and still say it failed: `status: "failed"` with its error.
  failure(response) {
    const r = response as { status?: unknown; error?: { message?: unknown } | null };
    if (r.status !== "failed") return undefined;
    return typeof r.error?.message === "string" ? r.error.message : "response failed";
  },
};

/** See `Intersebd.wrapOpenAI`; the default-instance form is `wrapOpenAI` in `index.ts`. */
export function wrapOpenAIClient<C extends OpenAIClient>(
  client: C,
  options: WrapOpenAIOptions | undefined,
  sink: CallSink,
): C {
  const c = client as { chat?: { completions?: unknown }; responses?: unknown } | undefined;
  patchCreates(
    [
      [c?.chat?.completions, CHAT],
      [c?.responses, RESPONSES],
    ],
    "chat.completions.create nor responses.create",
    options,
    sink,
  );
  return client;
}
