/**
 * `j`/`k` on the annotate page walk a list of items that only the inbox can give: a link opens one item and the
 * server tells its holder about no other (no tokens of the recipient's other items). The inbox, which is behind
 * the API key, hands its list of `/a/{token}` paths to the annotate page in the history entry's state; a page
 * opened from a mailed link has none, so `j`/`k` do nothing there. History state, not storage: it belongs to
 * that tab's visit from the inbox, and a link opened later in the same tab starts without it.
 * No DOM here: unit-tested under Node.
 */

/** The history state the inbox's links carry. */
export interface QueueState {
  annotateQueue: string[];
}

/** More than any inbox page shows (200 at most per request, a few "Load more"s). */
const MAX_QUEUE = 2000;

/** The queue in a history entry's state, if it holds one (state is whatever the entry was given: checked). */
export function queueOf(state: unknown): string[] | null {
  const q = (state as Partial<QueueState> | null)?.annotateQueue;
  if (!Array.isArray(q) || q.length === 0 || q.length > MAX_QUEUE) return null;
  // Only annotate pages of this app, as the inbox wrote them.
  return q.every((p) => typeof p === "string" && p.startsWith("/a/") && !p.includes("//")) ? q : null;
}

/** The state to navigate with. */
export function queueState(queue: string[]): QueueState {
  return { annotateQueue: queue };
}

export interface Neighbours {
  next: string | null;
  previous: string | null;
  /** The queue to carry on to them. */
  queue: string[];
}

const NONE = (queue: string[]): Neighbours => ({ next: null, previous: null, queue });

/**
 * The items around `current` in inbox order (newest first: `next` is the one below), wrapping around the ends.
 * Once `current` is answered (`answered`), it leaves the queue, so that the walk ends when every item is done.
 */
export function neighbours(queue: string[] | null, current: string, answered = false): Neighbours {
  if (!queue) return NONE([]);
  const i = queue.indexOf(current);
  if (i === -1) return NONE(queue);
  const rest = answered ? queue.filter((p) => p !== current) : queue;
  if (rest.length === 0 || (!answered && rest.length < 2)) return NONE(rest);
  const n = rest.length;
  // Answered: the item that followed `current` now sits at its index.
  const next = answered ? rest[i % n] : rest[(i + 1) % n];
  const previous = rest[(i - 1 + n) % n];
  return { next: next ?? null, previous: previous ?? null, queue: rest };
}
