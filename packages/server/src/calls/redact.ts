/**
 * Capture modes (PRODUCT.md "Privacy"): `full` keeps bodies as they are, `redacted` masks personal data and
 * secrets in every string of the request and response, `metadata` keeps no message text at all.
 * Applied before a record is queued, so nothing unmasked reaches memory queues, the journal or the store.
 */
import { RE2JS } from "re2js";
import type { CaptureMode } from "../config/index.ts";
import { compileUserPattern, type UserPattern } from "../util/user-pattern.ts";

/** A user's redaction pattern (`INTERSEBD_REDACT_PATTERNS`), compiled for RE2: linear in the text it scans. */
export type RedactPattern = UserPattern;

/** Compiles a redaction pattern; @throws naming the pattern and why RE2 cannot run it. */
export const compileRedactPattern = (pattern: string): RedactPattern => compileUserPattern(pattern);

// The built-in patterns are ours, but the text they scan is not: a pattern that backtracks over a long run
// (email's `[\w.+-]+@` on "a.a.a...", jwt's `[\w-]{5,}\.` on "eyJaa-eyJaa-...") took quadratic time, 0.8 s
// for 40 kB. So they run on RE2 too, except `phone`, which needs lookaround RE2 lacks and stays on V8: it
// is linear, as each start is a digit preceded by neither a word character nor `+`, and a failed start only
// rescans the at most seven characters before the next such digit could end a match.
const re2 = (pattern: string, flags = 0) => RE2JS.compile(pattern, flags);
const BUILTIN_PATTERNS: Array<[label: string, pattern: RE2JS | RegExp]> = [
  ["jwt", re2(String.raw`\beyJ[\w-]{5,}\.eyJ[\w-]{5,}\.[\w-]{5,}`)],
  ["bearer", re2(String.raw`\bBearer\s+[\w.~+/-]{8,}=*`, RE2JS.CASE_INSENSITIVE)],
  [
    "api_key",
    re2(
      String.raw`\b(?:sk-(?:proj-|ant-|or-v1-)?[\w-]{16,}|AKIA[0-9A-Z]{16}|gh[pousr]_\w{30,}|xox[abpr]-[\w-]{10,})`,
    ),
  ],
  ["email", re2(String.raw`\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b`)],
  ["card", re2(String.raw`\b(?:\d[ -]?){12,18}\d\b`)],
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

export function redactText(text: string, custom: RedactPattern[] = []): string {
  let out = text;
  for (const [label, pattern] of BUILTIN_PATTERNS) {
    const mask = (m: string) => {
      if (label === "card" && !luhn(m)) return m;
      if (label === "phone" && !looksLikePhone(m)) return m;
      return `[${label.toUpperCase()}]`;
    };
    out = pattern instanceof RegExp ? out.replace(pattern, mask) : pattern.matcher(out).replaceAll(mask);
  }
  for (const pattern of custom) out = pattern.matcher(out).replaceAll(() => "[REDACTED]");
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
export function applyCaptureMode<T>(body: T, mode: CaptureMode, custom: RedactPattern[] = []): T {
  if (body === null || body === undefined || mode === "full") return body;
  if (mode === "metadata") return stripText(body) as T;
  return mapStrings(body, (s) => redactText(s, custom)) as T;
}
