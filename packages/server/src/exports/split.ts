/**
 * Deterministic train/validation split and de-duplication, both in constant memory per row.
 */
import { createHash } from "node:crypto";
import type { ExportCall } from "./model.ts";

export const groupKeys = ["session", "user", "call"] as const;
export type GroupBy = (typeof groupKeys)[number];

/**
 * The key that keeps related rows on one side: the session (default), the end user, or the call alone.
 * A call without a session (or user) is its own group.
 */
export function groupKeyOf(call: Pick<ExportCall, "id" | "sessionId" | "userId">, by: GroupBy): string {
  if (by === "session" && call.sessionId) return `session:${call.sessionId}`;
  if (by === "user" && call.userId) return `user:${call.userId}`;
  return `call:${call.id}`;
}

/**
 * Which side a group falls on: the first 32 bits of SHA-256(key), as a fraction of 2^32, below `fraction`
 * is validation. Same key, same side, on every run and machine; about `fraction` of the groups go to
 * validation (of the rows only on average, since groups differ in size).
 * @example partOf("session:s1", 0.1) // "train" or "validation", always the same for s1
 */
export function partOf(groupKey: string, fraction: number): "train" | "validation" {
  if (fraction <= 0) return "train";
  const h = createHash("sha256").update(groupKey).digest();
  return h.readUInt32BE(0) / 2 ** 32 < fraction ? "validation" : "train";
}

/**
 * A set of 64-bit content hashes (open addressing over a typed array): about 16 bytes per distinct row
 * instead of a string each, so de-duplicating a million rows costs ~16 MB, not hundreds.
 * A false "seen" needs a 64-bit collision: about 1 in 10^7 for a million rows.
 */
export class SeenSet {
  #table = new Uint32Array(2 * 1024);
  #size = 0;

  get size(): number {
    return this.#size;
  }

  /** Adds the hash of `text`; returns false when it was already there. */
  add(text: string): boolean {
    const d = createHash("sha1").update(text).digest();
    // Zero marks an empty slot, so a (vanishingly unlikely) all-zero hash is nudged to 1.
    const hi = d.readUInt32LE(0);
    const lo = d.readUInt32LE(4) || (hi === 0 ? 1 : 0);
    if ((this.#size + 1) * 2 > this.#table.length / 2) this.#grow();
    if (!this.#insert(this.#table, hi, lo)) return false;
    this.#size++;
    return true;
  }

  #insert(table: Uint32Array, hi: number, lo: number): boolean {
    const slots = table.length / 2;
    let i = (hi ^ Math.imul(lo, 0x9e3779b1)) >>> 0;
    for (;;) {
      i &= slots - 1;
      const h = table[2 * i] as number;
      const l = table[2 * i + 1] as number;
      if (h === 0 && l === 0) {
        table[2 * i] = hi;
        table[2 * i + 1] = lo;
        return true;
      }
      if (h === hi && l === lo) return false;
      i++;
    }
  }

  #grow(): void {
    const old = this.#table;
    const table = new Uint32Array(old.length * 2);
    for (let i = 0; i < old.length; i += 2) {
      const h = old[i] as number;
      const l = old[i + 1] as number;
      if (h !== 0 || l !== 0) this.#insert(table, h, l);
    }
    this.#table = table;
  }
}
