/**
 * Deterministic train/validation split, and de-duplication in constant memory.
 */
import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { DatabaseSync, type StatementSync } from "node:sqlite";
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
 * The rows an export has written, as 128-bit content hashes kept on disk: a scratch SQLite file with a 4 MB
 * page cache, so the export's memory stays flat however many rows it writes (in memory, even 16 bytes a row
 * grew by tens of megabytes per million). The file is private to this set and deleted by `close()`.
 * A false "seen" needs a 128-bit collision.
 */
export class SeenSet {
  readonly #dir: string;
  readonly #db: DatabaseSync;
  readonly #insert: StatementSync;
  #size = 0;

  constructor(tmpDir = os.tmpdir()) {
    this.#dir = fs.mkdtempSync(path.join(tmpDir, "intersebd-export-"));
    this.#db = new DatabaseSync(path.join(this.#dir, "seen.sqlite"));
    // Scratch data: no journal, no sync, no locking; one transaction that is never committed, so pages reach
    // the file only when the cache is full.
    this.#db.exec(`
      pragma journal_mode = off; pragma synchronous = off; pragma locking_mode = exclusive;
      pragma cache_size = -4096; pragma temp_store = file;
      create table seen (hash blob primary key) without rowid;
      begin;`);
    this.#insert = this.#db.prepare("insert or ignore into seen (hash) values (?)");
  }

  get size(): number {
    return this.#size;
  }

  /** Adds the hash of `text`; returns false when it was already there. */
  add(text: string): boolean {
    const hash = createHash("sha256").update(text).digest().subarray(0, 16);
    if (this.#insert.run(hash).changes === 0) return false;
    this.#size++;
    return true;
  }

  /** Deletes the scratch file; safe to call twice. */
  close(): void {
    if (this.#db.isOpen) this.#db.close();
    fs.rmSync(this.#dir, { recursive: true, force: true });
  }
}
