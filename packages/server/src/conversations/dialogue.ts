/**
 * A session read as one dialogue, and the slices a conversation evaluation cuts from it. Pure functions.
 *
 * The dialogue is the longest call's conversation: its request's messages followed by its answer. A chat
 * client resends the whole history with every call, so the last (longest) call already holds every earlier
 * turn; concatenating the calls would repeat them. Each assistant turn is traced back to the call that produced
 * it (the call whose request held exactly the messages before it and whose answer is that turn), so a human
 * comparison can show both calls side by side.
 */

export type Message = Record<string, unknown> & { role?: unknown; content?: unknown };

/** What the dialogue needs of a stored call. */
export interface SessionCall {
  id: string;
  request?: Record<string, unknown> | null;
  response?: Record<string, unknown> | null;
}

export interface Dialogue {
  /** The system (and developer) messages, kept out of slices and sent first with every context. */
  system: Message[];
  /** The other messages, in order. */
  turns: Message[];
  /** Per turn, the id of the call that answered it (assistant turns only; null when not found). */
  producedBy: Array<string | null>;
  /** The call whose request (model and parameters) the regenerations start from. */
  requestCall: SessionCall;
}

const isSystem = (m: Message) => m.role === "system" || m.role === "developer";

function messagesOf(c: SessionCall): Message[] | null {
  const m = c.request?.messages;
  return Array.isArray(m) ? (m.filter((x) => x && typeof x === "object") as Message[]) : null;
}

function answerOf(c: SessionCall): Message | null {
  const choices = c.response?.choices;
  const msg = Array.isArray(choices) ? (choices[0] as { message?: Message } | undefined)?.message : undefined;
  return msg && typeof msg === "object" ? msg : null;
}

/** The text of a message, for matching a turn with the answer that produced it. */
export function textOf(m: Message | null | undefined): string {
  const c = m?.content;
  if (typeof c === "string") return c;
  if (Array.isArray(c)) return c.map((p) => (p as { text?: unknown })?.text ?? "").join(" ");
  return "";
}

/** The session's dialogue, or null when no call has chat messages. */
export function dialogueOf(calls: readonly SessionCall[]): Dialogue | null {
  let longest: { call: SessionCall; messages: Message[] } | undefined;
  for (const call of calls) {
    const msgs = messagesOf(call);
    if (!msgs) continue;
    const answer = answerOf(call);
    const all = answer ? [...msgs, answer] : msgs;
    // Later calls win ties: the latest state of the conversation.
    if (!longest || all.length >= longest.messages.length) longest = { call, messages: all };
  }
  if (!longest) return null;
  const system = longest.messages.filter(isSystem);
  const turns = longest.messages.filter((m) => !isSystem(m));
  // A call produced turn k when it was sent the k turns before it and answered that turn's text.
  const byPrefix = new Map<string, string>();
  for (const call of calls) {
    const msgs = messagesOf(call);
    const answer = answerOf(call);
    if (!msgs || !answer) continue;
    byPrefix.set(`${msgs.filter((m) => !isSystem(m)).length}\u0000${textOf(answer)}`, call.id);
  }
  const producedBy = turns.map((t, k) =>
    t.role === "assistant" ? (byPrefix.get(`${k}\u0000${textOf(t)}`) ?? null) : null,
  );
  return { system, turns, producedBy, requestCall: longest.call };
}

export interface Slice {
  /** The slice's first turn and the turn regenerated (indexes into `turns`); the context is [start, target). */
  start: number;
  target: number;
}

/**
 * Windows of `length` turns every `stride` turns (a dialogue shorter than `length` is one window); in each, the
 * last assistant turn is dropped and regenerated from the turns before it in the window. Windows whose last
 * assistant turn is the same are one slice; a window without an assistant turn after its first is skipped.
 */
export function slicesOf(turns: readonly Message[], length: number, stride: number): Slice[] {
  const n = turns.length;
  const starts: number[] = [];
  if (n <= length) starts.push(0);
  else for (let s = 0; s + length <= n; s += stride) starts.push(s);
  const out: Slice[] = [];
  const seen = new Set<number>();
  for (const start of starts) {
    const end = Math.min(n, start + length);
    let target = -1;
    for (let k = end - 1; k > start; k--)
      if (turns[k]?.role === "assistant") {
        target = k;
        break;
      }
    if (target < 0 || seen.has(target)) continue;
    seen.add(target);
    out.push({ start, target });
  }
  return out;
}

/**
 * The messages a regeneration is sent: the system messages, then the slice's context (the turns before the
 * regenerated one), cut to its last `contextLength` turns when given.
 */
export function contextOf(d: Dialogue, slice: Slice, contextLength: number | null): Message[] {
  const ctx = d.turns.slice(slice.start, slice.target);
  return [...d.system, ...(contextLength === null ? ctx : ctx.slice(-contextLength))];
}
