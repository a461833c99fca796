/**
 * `intersebd`: link, annotate and reward the LLM calls of your service. No runtime dependencies; Node >= 18,
 * Bun, Deno and edge runtimes (only `fetch` and timers are used).
 */

import type { MessagesClient, WrapAnthropicOptions } from "./anthropic.ts";
import { Intersebd } from "./client.ts";
import type { OpenAIClient, WrapOpenAIOptions } from "./openai.ts";

export type { MessagesClient, WrapAnthropicOptions } from "./anthropic.ts";
export { type Check, type CheckItem, type CheckResult, defineCheck } from "./checks.ts";
export { Intersebd } from "./client.ts";
export { type EventKind, IntersebdError, type IntersebdErrorCode } from "./errors.ts";
export type { CallContext, ChatCompletionsClient, OpenAIClient, WrapOpenAIOptions } from "./openai.ts";
export type {
  AnnotateInput,
  AnnotationSource,
  Correction,
  FlushOptions,
  IntersebdOptions,
  IntersebdStats,
  JsonObject,
  LinkInput,
  NotifyInput,
} from "./types.ts";
export type {
  Assignment,
  ExperimentDefinition,
  Experiments,
  VariantOverrides,
  VariantUnit,
} from "./variant.ts";

/**
 * The default instance, configured from `INTERSEBD_URL` (default `http://127.0.0.1:8787`), `INTERSEBD_API_KEY`
 * and `INTERSEBD_ENABLED` ("0" or "false" disables). The URL and key are read when it first sends.
 *
 * @example
 * ```ts
 * import { intersebd } from "intersebd";
 * intersebd.enabled = process.env.IS_TEST_ENV !== "1";
 * intersebd.link({ upstreamTag: r.id, downstreamTag: reply.id });
 * intersebd.annotate({ annotationKey: reply.id, numericReward: 1 });
 * intersebd.notify({ completionId: r.id, sendNotificationTo: user.id });
 * ```
 */
export const intersebd: Intersebd = new Intersebd();

/**
 * Wraps an OpenAI client so that its `chat.completions.create` and `responses.create` calls (streams included)
 * are captured by the default instance and sent to `POST /api/calls`. Returns the same client; what the caller
 * gets is unchanged.
 *
 * @example
 * ```ts
 * import OpenAI from "openai";
 * import { intersebd, wrapOpenAI } from "intersebd";
 *
 * const openai = wrapOpenAI(new OpenAI(), { tags: ["titles"] });
 * const r = await openai.chat.completions.create({ model: "gpt-4o-mini", messages });
 * intersebd.annotate({ annotationKey: r.id, numericReward: 1 });
 * ```
 */
export function wrapOpenAI<C extends OpenAIClient>(client: C, options?: WrapOpenAIOptions): C {
  return intersebd.wrapOpenAI(client, options);
}

/**
 * Wraps an Anthropic client so that its `messages.create` calls (streams and `messages.stream()` included) are
 * captured by the default instance and sent to `POST /api/calls`. Returns the same client; what the caller gets
 * is unchanged.
 *
 * @example
 * ```ts
 * import Anthropic from "@anthropic-ai/sdk";
 * import { intersebd, wrapAnthropic } from "intersebd";
 *
 * const anthropic = wrapAnthropic(new Anthropic(), { tags: ["support"] });
 * const m = await anthropic.messages.create({ model: "claude-sonnet-4-5", max_tokens: 1024, messages });
 * intersebd.annotate({ annotationKey: m.id, numericReward: 1 });
 * ```
 */
export function wrapAnthropic<C extends MessagesClient>(client: C, options?: WrapAnthropicOptions): C {
  return intersebd.wrapAnthropic(client, options);
}
