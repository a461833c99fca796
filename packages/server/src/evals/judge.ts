/**
 * LLM judges: the prompts they are sent, the parsing of their replies, and the position-bias control of
 * pairwise judging. The calls themselves go through the proxy (see `item.ts`).
 *
 * Absolute: the judge scores one answer on a scale (default 1–5) and replies `{ "score", "reason" }`;
 * the score becomes a reward in [0, 1] (`(score − low) / (high − low)`), which passes at 0.5 or more, the same
 * convention as a human thumbs-up (PRODUCT.md "Annotation").
 * Pairwise: the judge sees the candidate's and the baseline's answers as A and B and replies
 * `{ "choice": "a" | "b" | "tie", "reason" }`. Which one is A is drawn per item from a seeded generator, so the
 * judge's preference for a position cancels out over a run and a rerun with the same seed is identical.
 *
 * `runJudge` runs one judge on one item through the `ask` function it is given (the item's proxy client), so
 * it is tested with a scripted judge and no server.
 */

import { clip } from "../util/clip.ts";
import type { CheckOutcome, JudgeDef } from "./checks.ts";
import { hash32, seededRandom } from "./stats.ts";

export interface ChatMessage {
  role: string;
  content: string;
}

export const DEFAULT_RUBRIC =
  "Does the answer do what the last user message asks, correctly and completely, in the requested format?";

/** A long text in a judge's prompt says how much of it the judge does not see. */
const cutNote = (cut: number) => `\n[… ${cut} characters cut]`;

function textOf(content: unknown): string {
  if (typeof content === "string") return content;
  if (Array.isArray(content))
    return content
      .map((p) => (p && typeof p === "object" && "text" in p ? String(p.text) : "[non-text part]"))
      .join(" ");
  return content === null || content === undefined ? "" : JSON.stringify(content);
}

/** The conversation as the judge reads it: one `role: text` block per message. */
export function renderConversation(messages: unknown): string {
  if (!Array.isArray(messages)) return "";
  return messages
    .map((m) => {
      const msg = m as { role?: string; content?: unknown; tool_calls?: unknown };
      const text =
        textOf(msg.content) || (msg.tool_calls ? `tool calls: ${JSON.stringify(msg.tool_calls)}` : "");
      return `${msg.role ?? "?"}: ${clip(text, 8000, cutNote)}`;
    })
    .join("\n\n");
}

/** The messages sent to an absolute judge. */
export function absolutePrompt(
  def: Extract<JudgeDef, { mode: "absolute" }>,
  conversation: string,
  answer: string,
): ChatMessage[] {
  const [lo, hi] = def.scale;
  return [
    {
      role: "system",
      content:
        "You are an impartial evaluator of an AI assistant's answers. Read the conversation and the answer, " +
        `judge the answer by the rubric, and reply with only a JSON object: {"score": <integer from ${lo} to ${hi}>, ` +
        `"reason": "<one or two sentences>"}. ${lo} is the worst, ${hi} the best.`,
    },
    {
      role: "user",
      content:
        `Rubric: ${def.rubric ?? DEFAULT_RUBRIC}\n\n<conversation>\n${conversation}\n</conversation>\n\n` +
        `<answer>\n${clip(answer, 16000, cutNote)}\n</answer>\n\nReply with the JSON object only.`,
    },
  ];
}

/** The messages sent to a pairwise judge; `a` and `b` are already in the order drawn for the item. */
export function pairwisePrompt(
  def: Extract<JudgeDef, { mode: "pairwise" }>,
  conversation: string,
  a: string,
  b: string,
): ChatMessage[] {
  return [
    {
      role: "system",
      content:
        "You are an impartial evaluator. Compare two answers to the same conversation and decide which one is " +
        "better by the rubric. The order of the answers is random: do not let it, their length or their style " +
        'sway you. Reply with only a JSON object: {"choice": "a" | "b" | "tie", "reason": "<one or two sentences>"}.',
    },
    {
      role: "user",
      content:
        `Rubric: ${def.rubric ?? DEFAULT_RUBRIC}\n\n<conversation>\n${conversation}\n</conversation>\n\n` +
        `<answer_a>\n${clip(a, 16000, cutNote)}\n</answer_a>\n\n<answer_b>\n${clip(b, 16000, cutNote)}\n</answer_b>\n\n` +
        "Compare the two answers and reply with the JSON object only.",
    },
  ];
}

/** Finds the JSON object in a reply (models wrap it in code fences or a sentence now and then). */
function jsonObjectIn(reply: string): Record<string, unknown> | undefined {
  const start = reply.indexOf("{");
  const end = reply.lastIndexOf("}");
  if (start < 0 || end <= start) return undefined;
  try {
    const v = JSON.parse(reply.slice(start, end + 1)) as unknown;
    return v && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

export type Parsed<T> = ({ ok: true } & T) | { ok: false; error: string };

/**
 * Reads an absolute judge's reply.
 *
 * @example
 * ```ts
 * parseAbsolute('{"score": 4, "reason": "fine"}', [1, 5]); // { ok: true, score: 4, reward: 0.75, reason: "fine" }
 * ```
 */
export function parseAbsolute(
  reply: string | null,
  scale: [number, number],
): Parsed<{ score: number; reward: number; reason: string }> {
  const obj = reply ? jsonObjectIn(reply) : undefined;
  if (!obj)
    return { ok: false, error: `judge reply is not a JSON object: ${JSON.stringify(reply?.slice(0, 200))}` };
  const score = typeof obj.score === "string" ? Number(obj.score) : obj.score;
  const [lo, hi] = scale;
  if (typeof score !== "number" || !Number.isFinite(score) || score < lo || score > hi)
    return {
      ok: false,
      error: `judge score ${JSON.stringify(obj.score)} is not a number from ${lo} to ${hi}`,
    };
  return {
    ok: true,
    score,
    reward: (score - lo) / (hi - lo),
    reason: typeof obj.reason === "string" ? obj.reason : "",
  };
}

/** Reads a pairwise judge's reply. */
export function parsePairwise(reply: string | null): Parsed<{ choice: "a" | "b" | "tie"; reason: string }> {
  const obj = reply ? jsonObjectIn(reply) : undefined;
  if (!obj)
    return { ok: false, error: `judge reply is not a JSON object: ${JSON.stringify(reply?.slice(0, 200))}` };
  const choice = typeof obj.choice === "string" ? obj.choice.trim().toLowerCase() : obj.choice;
  if (choice !== "a" && choice !== "b" && choice !== "tie")
    return { ok: false, error: `judge choice ${JSON.stringify(obj.choice)} is not "a", "b" or "tie"` };
  return { ok: true, choice, reason: typeof obj.reason === "string" ? obj.reason : "" };
}

/**
 * Whether the baseline is shown as A (and the candidate as B) for this item: a fair coin drawn from the run's
 * seed and the item's index, so it does not depend on the order workers process items in.
 */
export function baselineFirst(seed: number, index: number): boolean {
  return seededRandom(hash32(`${seed}:${index}`))() < 0.5;
}

/** The candidate's result from the judge's choice, undoing the order the answers were shown in. */
export function outcomeOf(choice: "a" | "b" | "tie", baselineShownFirst: boolean): "win" | "tie" | "loss" {
  if (choice === "tie") return "tie";
  const candidateIsA = !baselineShownFirst;
  return (choice === "a") === candidateIsA ? "win" : "loss";
}

export type JudgeVerdict =
  | { ok: true; score: number; reward: number; reason: string }
  | { ok: false; error: string };

/** One judge's result on one item, as the item's results store it. */
export type JudgeOutcome =
  | {
      name: string;
      mode: "absolute";
      model: string;
      candidate: JudgeVerdict;
      /** Null when the baseline has no answer to judge. */
      baseline: JudgeVerdict | null;
    }
  | {
      name: string;
      mode: "pairwise";
      model: string;
      /** Whether the baseline was shown as answer A (drawn from the run's seed). */
      baselineFirst: boolean;
      choice?: "a" | "b" | "tie";
      /** The candidate's result against the baseline. */
      outcome?: "win" | "tie" | "loss";
      reason?: string;
      error?: string;
    };

/** What a judge looks at for one item. */
export interface JudgeSubject {
  /** The logged conversation (`renderConversation` of the baseline's messages). */
  conversation: string;
  /** The candidate's answer text. */
  answer: string | null;
  /** The logged baseline's answer text. */
  baselineAnswer: string | null;
  /** Whether a pairwise judge sees the baseline as A (`baselineFirst(seed, index)`). */
  baselineFirst: boolean;
}

/**
 * Asks the judge model: its reply's text, or `{ error }` when it answered with an error the item records (a
 * failure worth another attempt of the item is thrown instead).
 */
export type AskJudge = (def: JudgeDef, messages: ChatMessage[]) => Promise<string | { error: string }>;

/** A judge's outcome and, for an absolute judge, its verdict as a check (pass at a reward of 0.5 or more). */
export interface JudgeResult {
  judge: JudgeOutcome;
  check?: CheckOutcome;
}

/**
 * Runs one judge on one item. An absolute judge scores the candidate's answer and the baseline's (when there is
 * one); a pairwise judge compares the two in the order drawn for the item. Never fails on a bad reply: the
 * outcome carries the error.
 */
export async function runJudge(def: JudgeDef, subject: JudgeSubject, ask: AskJudge): Promise<JudgeResult> {
  const { conversation, answer, baselineAnswer } = subject;
  if (def.mode === "absolute") {
    const judgeOne = async (text: string | null): Promise<JudgeVerdict> => {
      if (text === null) return { ok: false, error: "no answer to judge" };
      const reply = await ask(def, absolutePrompt(def, conversation, text));
      return typeof reply === "string" ? parseAbsolute(reply, def.scale) : { ok: false, error: reply.error };
    };
    const candidate = await judgeOne(answer);
    const baseline = baselineAnswer === null ? null : await judgeOne(baselineAnswer);
    return {
      judge: { name: def.name, mode: "absolute", model: def.model, candidate, baseline },
      check: candidate.ok
        ? {
            name: def.name,
            type: "judge",
            pass: candidate.reward >= 0.5,
            score: candidate.score,
            reason: candidate.reason,
          }
        : { name: def.name, type: "judge", pass: null, error: candidate.error },
    };
  }
  const common = {
    name: def.name,
    mode: "pairwise" as const,
    model: def.model,
    baselineFirst: subject.baselineFirst,
  };
  if (answer === null || baselineAnswer === null)
    return {
      judge: {
        ...common,
        error: answer === null ? "the candidate has no answer" : "the baseline has no answer",
      },
    };
  const [a, b] = subject.baselineFirst ? [baselineAnswer, answer] : [answer, baselineAnswer];
  const reply = await ask(def, pairwisePrompt(def, conversation, a, b));
  const parsed =
    typeof reply === "string" ? parsePairwise(reply) : { ok: false as const, error: reply.error };
  if (!parsed.ok) return { judge: { ...common, error: parsed.error } };
  return {
    judge: {
      ...common,
      choice: parsed.choice,
      outcome: outcomeOf(parsed.choice, subject.baselineFirst),
      reason: parsed.reason,
    },
  };
}
