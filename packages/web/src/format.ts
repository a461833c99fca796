/** Display helpers: times, durations, tokens, money, JSON. */

export function fmtTime(iso: string | null | undefined): string {
  if (!iso) return "—";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const now = new Date();
  const sameDay = d.toDateString() === now.toDateString();
  const time = d.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  if (sameDay) return time;
  return `${d.toLocaleDateString(undefined, { month: "short", day: "numeric", year: d.getFullYear() === now.getFullYear() ? undefined : "numeric" })} ${time}`;
}

export function fmtDateTime(iso: string | null | undefined): string {
  if (!iso) return "—";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString();
}

export function fmtMs(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return "—";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
  return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
}

export function fmtInt(n: number | null | undefined): string {
  if (n === null || n === undefined) return "—";
  return n.toLocaleString();
}

export function fmtCost(usd: number | null | undefined): string {
  if (usd === null || usd === undefined) return "—";
  if (usd === 0) return "$0";
  if (usd < 0.01) return `$${usd.toPrecision(2)}`;
  return `$${usd.toFixed(usd < 1 ? 4 : 2)}`;
}

export function fmtReward(r: number | null | undefined): string {
  if (r === null || r === undefined) return "—";
  return Number.isInteger(r) ? String(r) : r.toFixed(2);
}

/** The text parsed as a JSON object or array, if it is one; else undefined. */
export function asJson(text: string | null | undefined): unknown {
  if (!text) return undefined;
  const t = text.trim();
  if (!(t.startsWith("{") || t.startsWith("["))) return undefined;
  try {
    return JSON.parse(t);
  } catch {
    return undefined;
  }
}

export function pretty(v: unknown): string {
  if (typeof v === "string") {
    const parsed = asJson(v);
    return parsed === undefined ? v : JSON.stringify(parsed, null, 2);
  }
  return JSON.stringify(v, null, 2) ?? String(v);
}

export function compact(v: unknown): string {
  return typeof v === "string" ? v : (JSON.stringify(v) ?? String(v));
}

/** `<input type="datetime-local">` value for an ISO time, in local time. */
export function toLocalInput(iso: string | null): string {
  if (!iso) return "";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "";
  const p = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

export function fromLocalInput(v: string): string {
  if (!v) return "";
  const d = new Date(v);
  return Number.isNaN(d.getTime()) ? "" : d.toISOString();
}

export const modelOf = (c: { servedModel: string | null; requestedModel: string | null }) =>
  c.servedModel ?? c.requestedModel ?? "—";

/** The tag that names a call best in links and comparisons: its completion id, else its id. */
export const tagOf = (c: { completionId: string | null; id: string }) => c.completionId ?? c.id;

/** A list row's output preview, without the server's leading arrow for tool calls. */
export const previewOut = (s: string | null | undefined) => (s ? s.replace(/^→ /, "") : s);

/** A field name as a label: `comment` → `Comment`, `tone_of_voice` → `Tone of voice`. */
export const humanize = (name: string) => {
  const s = name
    .replace(/[_-]+/g, " ")
    .replace(/([a-z])([A-Z])/g, "$1 $2")
    .toLowerCase();
  return s.charAt(0).toUpperCase() + s.slice(1);
};

/** A rate 0..1 as a percentage: 0.8 → "80%", 0.123 → "12.3%". */
export function fmtPct(rate: number | null | undefined): string {
  if (rate === null || rate === undefined) return "—";
  const p = rate * 100;
  return `${Number.isInteger(p) || p >= 10 ? Math.round(p) : p.toFixed(1)}%`;
}

/** A 95% interval of rates: "49–94%". */
export function fmtRateCi(ci: [number, number] | null | undefined): string {
  if (!ci) return "—";
  return `${fmtPct(ci[0]).replace("%", "")}–${fmtPct(ci[1])}`;
}

/** A 95% interval of plain numbers: "[2.1, 3.4]". */
export function fmtCi(ci: [number, number] | null | undefined, digits = 2): string {
  if (!ci) return "—";
  return `[${ci[0].toFixed(digits)}, ${ci[1].toFixed(digits)}]`;
}

/** A number with up to `digits` decimals: 3.4000001 → "3.4". */
export function fmtNum(n: number | null | undefined, digits = 2): string {
  if (n === null || n === undefined) return "—";
  return String(Number(n.toFixed(digits)));
}
