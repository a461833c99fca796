/**
 * The pieces without a server: the INTERSEBD_RATE_LIMITS syntax, the token bucket's arithmetic on a fake clock,
 * a named rule replacing its scope's general one, and how a recorded call's tokens are counted.
 */
import assert from "node:assert/strict";
import type { ServerResponse } from "node:http";
import { describe, it } from "node:test";
import type { CapturedCall } from "../calls/index.ts";
import { loadConfig } from "../config/index.ts";
import { parseRateLimits } from "../config/rate-limits.ts";
import { createLogger } from "../util/log.ts";
import { LocalBuckets } from "./bucket.ts";
import { Limits, tokensOf } from "./index.ts";

describe("INTERSEBD_RATE_LIMITS", () => {
  it("reads scopes, names, units, windows and k/m amounts", () => {
    const rules = parseRateLimits(
      "key:600rpm, key:200k tpm,user:60rpm , upstream:openai=3000rpm,user:5rps,key:1m tpd",
    );
    assert.deepEqual(
      rules.map((r) => [r.scope, r.name ?? null, r.unit, r.limit, r.windowMs]),
      [
        ["key", null, "requests", 600, 60_000],
        ["key", null, "tokens", 200_000, 60_000],
        ["user", null, "requests", 60, 60_000],
        ["upstream", "openai", "requests", 3000, 60_000],
        ["user", null, "requests", 5, 1000],
        ["key", null, "tokens", 1_000_000, 86_400_000],
      ],
    );
    assert.deepEqual(parseRateLimits(""), []);
  });

  it("stops the start naming the variable and the rule", () => {
    for (const bad of ["key:60", "org:60rpm", "key:0rpm", "key:60rpm,key:60rpm", "user:60 per minute"]) {
      assert.throws(
        () => loadConfig({ INTERSEBD_RATE_LIMITS: bad }),
        (err: Error) => err.name === "ConfigError" && err.message.startsWith("INTERSEBD_RATE_LIMITS: "),
        bad,
      );
    }
  });
});

describe("token buckets", () => {
  it("take a burst of the limit, refill at limit per window, and let tokens overdraw until refilled above zero", async () => {
    let now = 0;
    const store = new LocalBuckets(() => now);
    const [rpm, tpm] = parseRateLimits("key:2rpm,key:10tpm") as [never, never];
    const both = [
      { id: "r", rule: rpm },
      { id: "t", rule: tpm },
    ];
    assert.equal(store.take(both).ok, true);
    assert.equal(store.take(both).ok, true);
    assert.deepEqual(store.take(both), { ok: false, levels: [0, 10] });
    now += 30_000; // half a minute: one request back
    assert.equal(store.take(both).ok, true);
    store.charge([both[1] as never], 25); // 15 tokens over
    now += 60_000;
    const v = store.take(both);
    assert.equal(v.ok, false, "still 5 tokens owed after a minute");
    assert.deepEqual(
      v.levels.map((l) => Math.round(l)),
      [2, -5],
    );
    now += 31_000;
    assert.equal(store.take(both).ok, true);
    now += 10 * 60_000;
    store.sweep();
    assert.equal(store.size, 0, "full buckets are forgotten");
    await store.close();
  });

  it("gives a named subject its own rule instead of the general one of that unit, and hashes user ids in bucket ids", async () => {
    const taken: string[][] = [];
    const store = {
      take: (b: { id: string }[]) => {
        taken.push(b.map((x) => x.id));
        return { ok: true, levels: [] };
      },
      charge: () => {},
      close: async () => {},
    };
    const limits = new Limits(
      {
        rules: parseRateLimits("user:60rpm,user:vip=600rpm,user:1000tpm,upstream:b=5rps"),
        redisTimeoutMs: 1,
        redisPrefix: "",
      },
      { log: createLogger("silent"), store },
    );
    const res = {} as ServerResponse;
    limits.admit(res, { key: undefined, userId: "vip", upstream: "a" }, () => {});
    limits.admit(res, { key: undefined, userId: "ann", upstream: "b" }, () => {});
    limits.admit(res, { key: undefined, userId: null, upstream: "a" }, () => {});
    assert.equal(taken.length, 2, "no rule applies to a call without user id on upstream a");
    assert.deepEqual(
      taken.map((ids) => ids.map((id) => id.replace(/:[0-9a-f]{32}$/, ":<hash>"))),
      [
        ["user:r60000:<hash>", "user:t60000:<hash>"],
        ["user:r60000:<hash>", "user:t60000:<hash>", "upstream:r1000:b"],
      ],
    );
    assert.ok(!taken.flat().some((id) => id.includes("vip") || id.includes("ann")));
    await limits.close();
  });
});

describe("a call's tokens", () => {
  const call = (response: Record<string, unknown> | null, request: Record<string, unknown> = {}) =>
    ({ request, response }) as CapturedCall;
  it("are the upstream's usage, else an estimate of 4 characters a token", () => {
    assert.equal(tokensOf(call({ usage: { total_tokens: 42, prompt_tokens: 1 } })), 42);
    assert.equal(tokensOf(call({ usage: { prompt_tokens: 3, completion_tokens: 4 } })), 7);
    const messages = [{ role: "user", content: "x".repeat(100) }];
    const estimate = tokensOf(call({ choices: [{ message: { content: "y".repeat(40) } }] }, { messages }));
    assert.equal(estimate, Math.ceil((JSON.stringify(messages).length + 40) / 4));
    assert.equal(tokensOf(call(null)), 0);
  });
});
