/**
 * Capture modes (PRODUCT.md "Privacy"): `full` keeps bodies as they are, `redacted` masks personal data and
 * secrets in every string of the request and response, `metadata` keeps no message text at all.
 * Applied before a record is queued, so nothing unmasked reaches memory queues, the journal or the store.
 */
import type { CaptureMode } from "../config/index.ts";

const BUILTIN_PATTERNS: Array<[label: string, pattern: RegExp]> = [
  ["jwt", /\beyJ[\w-]{5,}\.eyJ[\w-]{5,}\.[\w-]{5,}/g],
  ["bearer", /\bBearer\s+[\w.~+/-]{8,}=*/gi],
  [
    "api_key",
    /\b(?:sk-(?:proj-|ant-|or-v1-)?[\w-]{16,}|AKIA[0-9A-Z]{16}|gh[pousr]_\w{30,}|xox[abpr]-[\w-]{10,})/g,
  ],
  ["email", /\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b/g],
  ["card", /\b(?:\d[ -]?){12,18}\d\b/g],
  ["phone", /(?<![\w+])\+?\(?\d[\d\s().-]{6,}\d(?!\w)/g],
];

/** True when the digits of a candidate card number pass the Luhn check (fewer false positives). */
function luhn(candidate: string): boolean {
  const digits = candidate.replace(/\D/g, "");
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = Number(digits[digits.length - 1 - i]);
    if (i % 2 === 1) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return sum % 10 === 0;
}

/** 9 to 15 digits (E.164), written as a phone number: a leading + or at least two separators. */
function looksLikePhone(candidate: string): boolean {
  const digits = candidate.replace(/\D/g, "").length;
  const separators = (candidate.match(/[\s().-]/g) ?? []).length;
  return digits >= 9 && digits <= 15 && (candidate.startsWith("+") || separators >= 2);
}

export function redactText(text: string, custom: RegExp[] = []): string {
  let out = text;
  for (const [label, pattern] of BUILTIN_PATTERNS) {
    out = out.replace(pattern, (m) => {
      if (label === "card" && !luhn(m)) return m;
      if (label === "phone" && !looksLikePhone(m)) return m;
      return `[${label.toUpperCase()}]`;
    });
  }
  for (const pattern of custom) out = out.replace(pattern, "[REDACTED]");
  return out;
}

function mapStrings(value: unknown, fn: (s: string) => string): unknown {
  if (typeof value === "string") return fn(value);
  if (Array.isArray(value)) return value.map((v) => mapStrings(v, fn));
  if (value && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = mapStrings(v, fn);
    return out;
  }
  return value;
}

// Fields whose text is the conversation itself; `metadata` mode drops them and keeps everything else.
const TEXT_FIELDS = new Set(["content", "refusal", "arguments", "text", "input", "prompt", "reasoning"]);

function stripText(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(stripText);
  if (value && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      if (TEXT_FIELDS.has(k) && v !== null) {
        out[k] = typeof v === "string" ? `[${v.length} chars]` : "[omitted]";
      } else if (k === "logprobs" && v !== null) out[k] = "[omitted]";
      else out[k] = stripText(v);
    }
    return out;
  }
  return value;
}

/** Applies the capture mode to a JSON body (request or response). */
export function applyCaptureMode<T>(body: T, mode: CaptureMode, custom: RegExp[] = []): T {
  if (body === null || body === undefined || mode === "full") return body;
  if (mode === "metadata") return stripText(body) as T;
  return mapStrings(body, (s) => redactText(s, custom)) as T;
}
