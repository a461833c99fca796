/**
 * Environment and runtime access that works on Node, Bun, Deno and edge runtimes: `process` may not exist,
 * and Deno throws without `--allow-env`. Nothing here imports `node:*`.
 */

interface DenoLike {
  env?: { get(name: string): string | undefined };
  unrefTimer?(id: number): void;
  refTimer?(id: number): void;
}

type Timer = ReturnType<typeof setTimeout>;

const runtime = globalThis as unknown as {
  process?: { env?: Record<string, string | undefined> };
  Deno?: DenoLike;
  crypto?: { randomUUID?: () => string };
};

/** Reads an environment variable, or `undefined` where there is no environment or no permission to read it. */
export function readEnv(name: string): string | undefined {
  try {
    const v = runtime.process?.env?.[name];
    if (v !== undefined) return v;
  } catch {}
  try {
    return runtime.Deno?.env?.get(name);
  } catch {
    return undefined;
  }
}

/** `INTERSEBD_ENABLED`: "0", "false", "no" and "off" (any case) disable; anything else, or unset, enables. */
export function envEnabled(value: string | undefined): boolean {
  if (value === undefined) return true;
  const v = value.trim().toLowerCase();
  return !(v === "0" || v === "false" || v === "no" || v === "off");
}

/** Lets the process exit while only this timer is pending (Node and Bun timers; Deno's numeric ids). */
export function unrefTimer(t: Timer): void {
  const handle = t as unknown as { unref?: () => void };
  if (typeof handle === "object" && handle !== null && typeof handle.unref === "function") handle.unref();
  else if (typeof t === "number") {
    try {
      runtime.Deno?.unrefTimer?.(t);
    } catch {}
  }
}

/** Undoes {@link unrefTimer}: someone is now awaiting what the timer leads to. */
export function refTimer(t: Timer): void {
  const handle = t as unknown as { ref?: () => void };
  if (typeof handle === "object" && handle !== null && typeof handle.ref === "function") handle.ref();
  else if (typeof t === "number") {
    try {
      runtime.Deno?.refTimer?.(t);
    } catch {}
  }
}

/** A random UUID from Web Crypto; a Math.random one where Web Crypto is missing (ids only need uniqueness). */
export function randomId(): string {
  const c = runtime.crypto;
  if (c && typeof c.randomUUID === "function") return c.randomUUID();
  let s = "";
  for (let i = 0; i < 32; i++) s += ((Math.random() * 16) | 0).toString(16);
  return `${s.slice(0, 8)}-${s.slice(8, 12)}-4${s.slice(13, 16)}-a${s.slice(17, 20)}-${s.slice(20)}`;
}
