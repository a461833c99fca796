/**
 * Every reason a call, pair or row can be left out of an export, with the sentence the report shows.
 * A closed table: the CLI summary and `GET /api/export?report=1` count rows per key.
 */
export const dropReasons = {
  // Building rows from calls
  not_chat: "not a Chat Completions call (the request has no messages)",
  not_convertible:
    "not convertible: a Responses or Messages call whose bodies could not be converted to chat (its conversionError says why)",
  no_answer: "the call has no answer (an error, or no choices in the response)",
  answer_truncated: "the answer was cut off (finish_reason length)",
  answer_filtered: "the answer was withheld by a content filter (finish_reason content_filter)",
  no_reward: "no numeric reward under the annotation name used (default reward)",
  // Preference pairs
  pair_tie: "a pairwise choice was a tie: no preference to learn",
  pair_tag_unresolved: "a compared tag leads back to no call",
  pair_tag_ambiguous: "a compared tag leads back to several calls at the same distance",
  pair_same_call: "both sides of a comparison are the same call",
  pair_different_inputs: "the compared calls answer different conversations",
  // The validator: rules of the formats
  invalid_row: "the row lacks a field its format requires",
  invalid_message: "a message is not an object",
  invalid_role: "a message has a role other than system, user, assistant or tool",
  invalid_content: "a message's content is not text (or content parts where allowed)",
  missing_user_message: "the conversation has no user message",
  not_alternating: "user and assistant turns do not alternate",
  system_not_first: "a system message comes after the conversation started",
  invalid_tool_call: "a tool call lacks an id, a function name or arguments",
  invalid_tool_arguments: "tool call arguments are not a JSON object",
  unknown_tool: "a tool call names a function that is not in tools",
  unanswered_tool_call: "a tool call is not answered by a tool message with its id",
  orphan_tool_message: "a tool message answers no earlier tool call",
  empty_assistant_turn: "an assistant turn has neither text nor tool calls",
  last_not_assistant: "the conversation does not end with the assistant's answer",
  prompt_ends_with_assistant: "the prompt ends with an assistant turn",
  output_not_single_assistant: "an output is not exactly one assistant message",
  identical_outputs: "the preferred and rejected answers are identical",
  label_not_boolean: "label is not true or false",
  reward_not_number: "reward is not a finite number",
  // After validation
  duplicate: "identical to an earlier row",
} as const;

export type DropReason = keyof typeof dropReasons;

/** Counts per reason, in the table's order, leaving out reasons that never occurred. */
export function orderedCounts(counts: Map<DropReason, number>): Partial<Record<DropReason, number>> {
  const out: Partial<Record<DropReason, number>> = {};
  for (const key of Object.keys(dropReasons) as DropReason[]) {
    const n = counts.get(key);
    if (n) out[key] = n;
  }
  return out;
}
