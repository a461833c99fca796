/**
 * `wrapAnthropic`: in-process capture of `messages.create` (and so of `messages.stream()`, which calls it), and of
 * `beta.messages.create` / `beta.messages.stream()` alike, for services on Anthropic's client that do not go
 * through the proxy. Each call is recorded with
 * `protocol: "messages"` and its bodies as sent and received (a stream's events reassembled as the client's
 * `finalMessage()` builds them); the server stores it beside its chat-shaped conversion. What the caller gets is
 * what the unwrapped client gives (capture.ts).
 *
 * No import of `@anthropic-ai/sdk` here: the client is typed structurally, so the SDK keeps no dependency.
 */

import { type CallSink, copying, type Protocol, patchCreates, type WrapOptions } from "./capture.ts";
import { MessagesStreamAccumulator } from "./chat/index.ts";

/**
 * The shape `wrapAnthropic` needs: the official `@anthropic-ai/sdk` client or anything with `messages.create`.
 *
 * @example
 * ```ts
 * const client: MessagesClient = new Anthropic();
 * ```
 */
export interface MessagesClient {
  messages: { create: (...args: never[]) => unknown };
}

/**
 * Options of `wrapAnthropic`: a `CallContext` for every call, or a function computing one from the request
 * params at each call.
 *
 * @example
 * ```ts
 * const options: WrapAnthropicOptions = { userId: user.id, tags: ["support"] };
 * ```
 */
export type WrapAnthropicOptions = WrapOptions;

/**
 * The Messages protocol with the params the client lifts out of the body into headers (`anthropic-*`): they are
 * not part of the request it sends, so not of the one recorded. The beta resource lifts `betas` too
 * (`anthropic-beta`).
 */
const messagesProtocol = (notInBody: string[]): Protocol => ({
  wrapper: "wrapAnthropic",
  protocol: "messages",
  path: "/v1/messages",
  accumulator: () => copying(new MessagesStreamAccumulator()),
  request(params) {
    for (const key of notInBody) delete params[key];
    return params;
  },
});
const MESSAGES = messagesProtocol(["user_profile_id", "workspace_id"]);
const BETA_MESSAGES = messagesProtocol(["betas", "user_profile_id", "workspace_id"]);

/** See `Intersebd.wrapAnthropic`; the default-instance form is `wrapAnthropic` in `index.ts`. */
export function wrapAnthropicClient<C extends MessagesClient>(
  client: C,
  options: WrapAnthropicOptions | undefined,
  sink: CallSink,
): C {
  const c = client as { messages?: unknown; beta?: { messages?: unknown } } | undefined;
  patchCreates(
    [
      [c?.messages, MESSAGES],
      [c?.beta?.messages, BETA_MESSAGES],
    ],
    "messages.create",
    options,
    sink,
  );
  return client;
}
