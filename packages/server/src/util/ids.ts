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

/** The last millisecond an id was made for, and its random digits (base 32, most significant first). */
let lastTime = -1;
let lastRand: number[] = [];

/**
 * A prefixed id that sorts by creation time (ms, base 32) and then by 60 random bits,
 * e.g. `call_01jd3k9q2x8f7c6b5a4z3y2w1`. Within one millisecond of this process the random part counts up
 * from the first id's (as ULID's monotonic mode does), so ids made one after another sort in that order:
 * lists ordered by (time, id) show them as they were made.
 */
export function newId(prefix: string, now = Date.now()): string {
  let time = "";
  let t = now;
  for (let i = 0; i < 10; i++) {
    time = ALPHABET[t % 32] + time;
    t = Math.floor(t / 32);
  }
  let digits: number[];
  if (now === lastTime && !lastRand.every((d) => d === 31)) {
    digits = [...lastRand];
    let i = digits.length - 1;
    while ((digits[i] as number) === 31) digits[i--] = 0;
    digits[i] = (digits[i] as number) + 1;
  } else {
    digits = Array.from({ length: 12 }, () => nextRandomByte() % 32);
  }
  // An id for an earlier time (a backfill) leaves the sequence of the current millisecond alone.
  if (now >= lastTime) {
    lastTime = now;
    lastRand = digits;
  }
  return `${prefix}_${time}${digits.map((d) => ALPHABET[d]).join("")}`;
}
