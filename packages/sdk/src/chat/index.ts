/**
 * `intersebd/chat`: the chat kernel shared by the SDK and the server. Types of chat completions and their
 * chunks, the one stream reassembler (and the SSE reader that feeds it), and accessors for what records read
 * from a completion. No dependencies; any runtime with ES2022.
 */
export {
  completionIdOf,
  errorOf,
  finishReasonOf,
  firstChoice,
  firstMessage,
  isJsonObject,
  toolCallsOf,
  usageOf,
} from "./access.ts";
export { ChatCompletionAssembler, ChatStreamReader } from "./assemble.ts";
export { type ChatCall, ConversionError, type ConvertedProtocol } from "./convert.ts";
export {
  type AnthropicMessage,
  type AnthropicStreamError,
  accumulateMessagesStream,
  MessagesStreamAccumulator,
  MessagesStreamReader,
} from "./messages-stream.ts";
export { messagesRequestToChat, messagesResponseToChat, messagesToChat } from "./messages-to-chat.ts";
export {
  accumulateResponsesStream,
  ResponsesAssembler,
  type ResponsesAssemblerOptions,
  ResponsesStreamReader,
} from "./responses-stream.ts";
export { responsesRequestToChat, responsesResponseToChat, responsesToChat } from "./responses-to-chat.ts";
export { SseDecoder, type SseEvent } from "./sse.ts";
export type * from "./types.ts";
