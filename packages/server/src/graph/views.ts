/**
 * How the graph's rows are shown: annotations, links and comparisons as the API answers them (JSON columns
 * read through store/json.ts, times as ISO strings).
 */
import type { AnnotationRow, ComparisonRow, LinkRow } from "../store/index.ts";
import { readJson, readJsonObject } from "../store/json.ts";
import { isoTime } from "../util/time.ts";

/** An annotation as the API shows it. */
export interface AnnotationView {
  id: string;
  annotationKey: string;
  name: string;
  numericReward: number | null;
  content: unknown;
  data: unknown;
  comment: string | null;
  correction: unknown;
  source: string;
  annotatorId: string | null;
  notificationId: string | null;
  createdAt: string;
}

/** An annotation that applies to a call, with the chain of tags that connects them (call's tag first). */
export interface ResolvedAnnotation extends AnnotationView {
  path: string[];
  depth: number;
}

export interface LinkView {
  upstreamTag: string;
  downstreamTag: string;
  metadata: Record<string, unknown> | null;
  createdAt: string;
}

export interface ComparisonView extends Omit<ComparisonRow, "createdAt" | "criterion"> {
  createdAt: string;
}

/** A JSON column's text for a value given in a request (absent and null are both stored as NULL). */
export const json = (v: unknown): string | null => (v === undefined || v === null ? null : JSON.stringify(v));

export function annotationView(r: AnnotationRow): AnnotationView {
  return {
    id: r.id,
    annotationKey: r.key,
    name: r.name,
    numericReward: r.numericReward,
    content: readJson(r.content),
    data: readJson(r.data),
    comment: r.comment,
    correction: readJson(r.correction),
    source: r.source,
    annotatorId: r.annotatorId,
    notificationId: r.notificationId,
    createdAt: isoTime(r.createdAt),
  };
}

export function linkView(r: LinkRow): LinkView {
  return {
    upstreamTag: r.upstreamTag,
    downstreamTag: r.downstreamTag,
    metadata: readJsonObject(r.metadata),
    createdAt: isoTime(r.createdAt),
  };
}

export function comparisonView(r: ComparisonRow): ComparisonView {
  return { ...r, createdAt: isoTime(r.createdAt) };
}
