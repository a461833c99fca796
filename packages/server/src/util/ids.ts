import { randomBytes } from "node:crypto";

const ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz";

// One call into the CSPRNG per 4 KiB of ids instead of one per id: ids are made on the proxy's hot path.
let pool = randomBytes(4096);
let offset = 0;
function nextRandomByte(): number {
  if (offset === pool.length) {
    pool = randomBytes(4096);
    offset = 0;
  }
  return pool[offset++] as number;
}

/**
 * A prefixed id that sorts by creation time (ms, base 32) and then by 60 random bits,
 * e.g. `call_01jd3k9q2x8f7c6b5a4z3y2w1`.
 */
export function newId(prefix: string, now = Date.now()): string {
  let time = "";
  let t = now;
  for (let i = 0; i < 10; i++) {
    time = ALPHABET[t % 32] + time;
    t = Math.floor(t / 32);
  }
  let rand = "";
  for (let i = 0; i < 12; i++) rand += ALPHABET[nextRandomByte() % 32];
  return `${prefix}_${time}${rand}`;
}
