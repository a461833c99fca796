/**
 * The export formats (PRODUCT.md "Export formats") as pure row builders. Each returns the training record
 * and, separately, its provenance; where the format tolerates extra keys (TRL, rewards) the provenance is
 * written inline as `metadata`, otherwise (OpenAI rejects unknown keys) only to the manifest.
 *
 * Checked against:
 * - OpenAI chat fine-tuning input (`messages`, optional `tools`, `parallel_tool_calls`) and preference
 *   input (`input: { messages, tools, parallel_tool_calls }`, `preferred_output` and `non_preferred_output`
 *   each one assistant message) — the fine-tuning API reference and the DPO guide;
 * - TRL "Dataset formats and types": conversational language modeling (`messages`, plus a `tools` column for
 *   tool calling), conversational preference (`prompt`, `chosen`, `rejected`, explicit prompt recommended),
 *   unpaired preference for KTOTrainer (`prompt`, `completion`, `label` boolean).
 */
import { correctionMessage, type ExportAnnotation, type Message, type Prompt, type Target } from "./model.ts";

export const formats = ["openai-sft", "openai-dpo", "trl-sft", "trl-dpo", "trl-kto", "rewards"] as const;
export type Format = (typeof formats)[number];

/** Where a row came from: the calls it was built from and how. */
export interface Provenance {
  source: "call" | "correction" | "pairwise" | "same_input";
  /** Preferred (or only) call first. */
  callIds: string[];
  sessionId: string | null;
  comparisonId: string | null;
}

export interface FormatInfo {
  target: Target;
  kind: "sft" | "preference" | "unpaired" | "rewards";
  /** Whether rows may carry a `metadata` key (OpenAI's validator rejects unknown keys). */
  inlineMetadata: boolean;
  /** Whether user and assistant turns must alternate (many open-model chat templates raise otherwise). */
  strictTurns: boolean;
}

export const formatInfo: Record<Format, FormatInfo> = {
  "openai-sft": { target: "openai", kind: "sft", inlineMetadata: false, strictTurns: false },
  "openai-dpo": { target: "openai", kind: "preference", inlineMetadata: false, strictTurns: false },
  "trl-sft": { target: "trl", kind: "sft", inlineMetadata: true, strictTurns: true },
  "trl-dpo": { target: "trl", kind: "preference", inlineMetadata: true, strictTurns: true },
  "trl-kto": { target: "trl", kind: "unpaired", inlineMetadata: true, strictTurns: true },
  rewards: { target: "trl", kind: "rewards", inlineMetadata: true, strictTurns: true },
};

export type Row = Record<string, unknown>;

function withTools(row: Row, prompt: Prompt, target: Target): Row {
  if (prompt.tools) row.tools = prompt.tools;
  if (target === "openai" && prompt.parallelToolCalls !== undefined)
    row.parallel_tool_calls = prompt.parallelToolCalls;
  return row;
}

/** A supervised example: the prompt followed by the answer to learn. */
export function sftRow(format: "openai-sft" | "trl-sft", prompt: Prompt, answer: Message): Row {
  return withTools({ messages: [...prompt.messages, answer] }, prompt, formatInfo[format].target);
}

/** A preference pair over one prompt. */
export function preferenceRow(
  format: "openai-dpo" | "trl-dpo",
  prompt: Prompt,
  chosen: Message,
  rejected: Message,
): Row {
  if (format === "openai-dpo") {
    return {
      input: withTools({ messages: prompt.messages }, prompt, "openai"),
      preferred_output: [chosen],
      non_preferred_output: [rejected],
    };
  }
  return withTools({ prompt: prompt.messages, chosen: [chosen], rejected: [rejected] }, prompt, "trl");
}

/** An unpaired preference (KTO): one answer and whether it is desirable. */
export function ktoRow(prompt: Prompt, completion: Message, label: boolean): Row {
  return withTools({ prompt: prompt.messages, completion: [completion], label }, prompt, "trl");
}

/** The annotation fields a reward-model or RL row carries (no timestamps, so exports are reproducible). */
export function annotationRecord(a: ExportAnnotation) {
  return {
    id: a.id,
    annotationKey: a.key,
    name: a.name,
    numericReward: a.numericReward,
    content: a.content,
    data: a.data,
    comment: a.comment,
    correction: a.correction === null ? null : correctionMessage(a.correction, "trl"),
    source: a.source,
    annotatorId: a.annotatorId,
  };
}

/** A scored answer for reward models and RL: the prompt, the answer, its reward and every judgement. */
export function rewardRow(
  prompt: Prompt,
  completion: Message,
  reward: number,
  annotations: ExportAnnotation[],
): Row {
  return withTools(
    {
      messages: prompt.messages,
      completion: [completion],
      reward,
      annotations: annotations.map(annotationRecord),
    },
    prompt,
    "trl",
  );
}
