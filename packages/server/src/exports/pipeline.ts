/**
 * An export run: selected calls → candidate rows of the format → validator → de-duplication → split.
 * Streams: rows are yielded as they are made, one store batch at a time, so memory does not grow with the
 * export (apart from 8–16 bytes per row for de-duplication, and for preference formats one small entry per
 * distinct input, to pair calls that share an input).
 *
 * Where rows come from, by format:
 * - SFT: one row per call: its messages and its answer, or the correction when it has one;
 * - preference (DPO): (1) pairwise choices (the chosen side's answer preferred; ties give none),
 *   (2) a correction against the original answer, (3) two calls with the same input (identical messages and
 *   tools) and different rewards: the best-rewarded against the worst, one pair per input;
 * - KTO: the answer labelled `reward >= threshold`; with no reward but a correction, the answer labelled
 *   false; and the correction labelled true;
 * - rewards: the answer with the call's reward and all its annotations.
 * A call's reward is the mean `numericReward` of its annotations named `rewardName` (default `reward`).
 */
import { createHash } from "node:crypto";
import type { Store } from "../store/index.ts";
import {
  type Format,
  formatInfo,
  ktoRow,
  type Provenance,
  preferenceRow,
  type Row,
  rewardRow,
  sftRow,
} from "./formats.ts";
import {
  answerOf,
  conversationKey,
  correctionMessage,
  correctionOf,
  type ExportCall,
  type ExportItem,
  inputKey,
  type Prompt,
  promptOf,
  rewardOf,
} from "./model.ts";
import { type DropReason, orderedCounts } from "./reasons.ts";
import {
  callOfTag,
  comparisonBatches,
  inSelection,
  itemsByIds,
  type Selection,
  selectedBatches,
  selectsEverything,
} from "./source.ts";
import { type GroupBy, groupKeyOf, partOf, SeenSet } from "./split.ts";
import { validateRow } from "./validate.ts";

export type Part = "train" | "validation";

export interface ExportOptions {
  format: Format;
  selection: Selection;
  /** Annotation name whose mean numeric reward is a call's reward (KTO labels, rewards, same-input pairs). */
  rewardName?: string;
  /** KTO: a reward at or above this is a desirable answer (PRODUCT.md: 0.5 unless a threshold is given). */
  threshold?: number;
  /** Fraction of groups (0 to 1) that go to validation; 0: everything is train. */
  split?: number;
  groupBy?: GroupBy;
  /** Link depth for resolving compared tags to calls (INTERSEBD_LINK_DEPTH). */
  linkDepth: number;
  batchSize?: number;
  /**
   * Called after each batch with how many calls (or comparisons, or same-input pairs) the phase has looked
   * at, and for pairs how many there are.
   */
  onProgress?: (phase: "comparisons" | "calls" | "pairs", done: number, total?: number) => void;
}

export interface ExportedRow {
  part: Part;
  /** The JSONL line, without its newline. */
  line: string;
  provenance: Provenance;
}

/** What an export wrote and what it left out, and why. */
export interface ExportReport {
  format: Format;
  split: number;
  groupBy: GroupBy;
  scanned: { calls: number; comparisons: number };
  written: { train: number; validation: number; total: number };
  bySource: Partial<Record<Provenance["source"], number>>;
  dropped: Partial<Record<DropReason, number>>;
  droppedTotal: number;
}

interface RewardExtremes {
  best: { id: string; reward: number };
  worst: { id: string; reward: number };
}

/**
 * Runs an export. Iterate `rows`; `report()` is complete once the iteration ends.
 * @example
 * const run = exportRows(store, { format: "openai-sft", selection: { filters: [], conditions: [] }, linkDepth: 10 });
 * for await (const r of run.rows) out.write(`${r.line}\n`);
 * console.log(run.report().dropped);
 */
export function exportRows(
  store: Store,
  opts: ExportOptions,
): { rows: AsyncGenerator<ExportedRow>; report(): ExportReport } {
  const format = opts.format;
  const info = formatInfo[format];
  const target = info.target;
  const rewardName = opts.rewardName ?? "reward";
  const threshold = opts.threshold ?? 0.5;
  const split = opts.split ?? 0;
  const groupBy = opts.groupBy ?? "session";
  const batchSize = opts.batchSize ?? 1000;
  let seen: SeenSet | undefined;
  const drops = new Map<DropReason, number>();
  const bySource: Partial<Record<Provenance["source"], number>> = {};
  const written = { train: 0, validation: 0, total: 0 };
  const scanned = { calls: 0, comparisons: 0 };

  const drop = (reason: DropReason) => drops.set(reason, (drops.get(reason) ?? 0) + 1);

  const provenance = (
    source: Provenance["source"],
    calls: ExportCall[],
    comparisonId: string | null = null,
  ): Provenance => ({
    source,
    callIds: calls.map((c) => c.id),
    sessionId: calls[0]?.sessionId ?? null,
    comparisonId,
  });

  /** Validates, de-duplicates and places one candidate row; null when it is dropped. */
  const emit = (row: Row, prov: Provenance, groupCall: ExportCall): ExportedRow | null => {
    const reason = validateRow(format, row);
    if (reason) {
      drop(reason);
      return null;
    }
    const json = JSON.stringify(row);
    seen ??= new SeenSet();
    if (!seen.add(json)) {
      drop("duplicate");
      return null;
    }
    const part: Part = split > 0 ? partOf(groupKeyOf(groupCall, groupBy), split) : "train";
    written[part]++;
    written.total++;
    bySource[prov.source] = (bySource[prov.source] ?? 0) + 1;
    const line = info.inlineMetadata ? `${json.slice(0, -1)},"metadata":${JSON.stringify(prov)}}` : json;
    return { part, line, provenance: prov };
  };

  const promptOrDrop = (call: ExportCall): Prompt | null => {
    const p = promptOf(call, target);
    if (!p.ok) drop(p.reason);
    return p.ok ? p.value : null;
  };

  function* sftItem({ call, annotations }: ExportItem): Generator<ExportedRow> {
    const prompt = promptOrDrop(call);
    if (!prompt) return;
    const correction = correctionOf(annotations);
    if (correction) {
      const answer = correctionMessage(correction.correction, target);
      const r = emit(sftRow(format as "openai-sft", prompt, answer), provenance("correction", [call]), call);
      if (r) yield r;
      return;
    }
    const answer = answerOf(call, target);
    if (!answer.ok) return drop(answer.reason);
    const r = emit(sftRow(format as "openai-sft", prompt, answer.value), provenance("call", [call]), call);
    if (r) yield r;
  }

  function* ktoItem({ call, annotations }: ExportItem): Generator<ExportedRow> {
    const prompt = promptOrDrop(call);
    if (!prompt) return;
    const reward = rewardOf(annotations, rewardName);
    const correction = correctionOf(annotations);
    if (reward === undefined && !correction) return drop("no_reward");
    const answer = answerOf(call, target);
    if (!answer.ok) drop(answer.reason);
    else {
      // A correction without a reward still says the answer was not what it should have been.
      const label = reward === undefined ? false : reward >= threshold;
      const r = emit(ktoRow(prompt, answer.value, label), provenance("call", [call]), call);
      if (r) yield r;
    }
    if (correction) {
      const fixed = correctionMessage(correction.correction, target);
      const r = emit(ktoRow(prompt, fixed, true), provenance("correction", [call]), call);
      if (r) yield r;
    }
  }

  function* rewardsItem({ call, annotations }: ExportItem): Generator<ExportedRow> {
    const prompt = promptOrDrop(call);
    if (!prompt) return;
    const reward = rewardOf(annotations, rewardName);
    if (reward === undefined) return drop("no_reward");
    const answer = answerOf(call, target);
    if (!answer.ok) return drop(answer.reason);
    const r = emit(rewardRow(prompt, answer.value, reward, annotations), provenance("call", [call]), call);
    if (r) yield r;
  }

  const extremes = new Map<string, RewardExtremes>();

  /** Preference formats, scan phase: correction pairs now, and the reward extremes of each input. */
  function* preferenceItem({ call, annotations }: ExportItem): Generator<ExportedRow> {
    const prompt = promptOrDrop(call);
    if (!prompt) return;
    const correction = correctionOf(annotations);
    const answer = answerOf(call, target);
    if (correction) {
      if (!answer.ok) drop(answer.reason);
      else {
        const fixed = correctionMessage(correction.correction, target);
        const row = preferenceRow(format as "openai-dpo", prompt, fixed, answer.value);
        const r = emit(row, provenance("correction", [call]), call);
        if (r) yield r;
      }
    }
    const reward = rewardOf(annotations, rewardName);
    if (reward === undefined || !answer.ok) return;
    const key = createHash("sha1").update(inputKey(prompt)).digest("base64url");
    const e = extremes.get(key);
    if (!e) extremes.set(key, { best: { id: call.id, reward }, worst: { id: call.id, reward } });
    else if (reward > e.best.reward) e.best = { id: call.id, reward };
    else if (reward < e.worst.reward) e.worst = { id: call.id, reward };
  }

  async function* pairwisePhase(): AsyncGenerator<ExportedRow> {
    const everything = selectsEverything(opts.selection);
    for await (const batch of comparisonBatches(store, Math.min(batchSize, 200))) {
      const resolved = await Promise.all(
        batch.map(async (c) => ({
          c,
          a: await callOfTag(store, c.a, opts.linkDepth),
          b: await callOfTag(store, c.b, opts.linkDepth),
        })),
      );
      const ids = resolved.flatMap((r) =>
        [r.a, r.b].flatMap((x) => (typeof x === "object" ? [x.callId] : [])),
      );
      const selected = everything ? new Set(ids) : await inSelection(store, opts.selection, ids);
      const items = await itemsByIds(store, [...selected]);
      for (const { c, a, b } of resolved) {
        scanned.comparisons++;
        const aIn = typeof a === "object" && selected.has(a.callId);
        const bIn = typeof b === "object" && selected.has(b.callId);
        // A comparison belongs to the export when one of its calls does (a model A/B test filtered to A).
        if (!aIn && !bIn && !(everything && (typeof a !== "object" || typeof b !== "object"))) continue;
        if (typeof a !== "object" || typeof b !== "object") {
          drop(a === "ambiguous" || b === "ambiguous" ? "pair_tag_ambiguous" : "pair_tag_unresolved");
          continue;
        }
        if (c.choice !== "a" && c.choice !== "b") {
          drop("pair_tie");
          continue;
        }
        if (a.callId === b.callId) {
          drop("pair_same_call");
          continue;
        }
        const [win, lose] = c.choice === "a" ? [a.callId, b.callId] : [b.callId, a.callId];
        const w = items.get(win) ?? (await itemsByIds(store, [win])).get(win);
        const l = items.get(lose) ?? (await itemsByIds(store, [lose])).get(lose);
        if (!w || !l) {
          drop("pair_tag_unresolved");
          continue;
        }
        const pw = promptOrDrop(w.call);
        const pl = pw && promptOrDrop(l.call);
        if (!pw || !pl) continue;
        if (conversationKey(pw) !== conversationKey(pl)) {
          drop("pair_different_inputs");
          continue;
        }
        const aw = answerOf(w.call, target);
        const al = answerOf(l.call, target);
        if (!aw.ok || !al.ok) {
          drop(aw.ok ? (al as { reason: DropReason }).reason : aw.reason);
          continue;
        }
        const row = preferenceRow(format as "openai-dpo", pw, aw.value, al.value);
        const r = emit(row, provenance("pairwise", [w.call, l.call], c.id), w.call);
        if (r) yield r;
      }
      opts.onProgress?.("comparisons", scanned.comparisons);
    }
  }

  async function* sameInputPhase(): AsyncGenerator<ExportedRow> {
    const pairs = [...extremes.values()].filter((e) => e.best.reward > e.worst.reward);
    extremes.clear();
    let done = 0;
    for (let i = 0; i < pairs.length; i += 250) {
      const chunk = pairs.slice(i, i + 250);
      const items = await itemsByIds(
        store,
        chunk.flatMap((p) => [p.best.id, p.worst.id]),
      );
      for (const p of chunk) {
        const w = items.get(p.best.id);
        const l = items.get(p.worst.id);
        if (!w || !l) continue;
        const prompt = promptOf(w.call, target);
        const aw = answerOf(w.call, target);
        const al = answerOf(l.call, target);
        if (!prompt.ok || !aw.ok || !al.ok) continue;
        const row = preferenceRow(format as "openai-dpo", prompt.value, aw.value, al.value);
        const r = emit(row, provenance("same_input", [w.call, l.call]), w.call);
        if (r) yield r;
      }
      done += chunk.length;
      opts.onProgress?.("pairs", done, pairs.length);
    }
  }

  const perItem =
    info.kind === "sft"
      ? sftItem
      : info.kind === "unpaired"
        ? ktoItem
        : info.kind === "rewards"
          ? rewardsItem
          : preferenceItem;

  async function* rows(): AsyncGenerator<ExportedRow> {
    try {
      if (info.kind === "preference") yield* pairwisePhase();
      for await (const batch of selectedBatches(store, opts.selection, batchSize)) {
        for (const item of batch) {
          scanned.calls++;
          yield* perItem(item);
        }
        opts.onProgress?.("calls", scanned.calls);
      }
      if (info.kind === "preference") yield* sameInputPhase();
    } finally {
      // Also when the consumer stops early (a client that went away): the scratch file goes with the export.
      seen?.close();
    }
  }

  return {
    rows: rows(),
    report: () => {
      const dropped = orderedCounts(drops);
      return {
        format,
        split,
        groupBy,
        scanned: { ...scanned },
        written: { ...written },
        bySource: { ...bySource },
        dropped,
        droppedTotal: Object.values(dropped).reduce((a, b) => a + (b ?? 0), 0),
      };
    },
  };
}
