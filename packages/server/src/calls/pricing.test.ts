import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { costUsd, priceOf } from "./pricing.ts";

describe("pricing", () => {
  it("finds Claude models by dated snapshot and -latest alias", () => {
    assert.deepEqual(priceOf("claude-sonnet-4-5-20250929"), priceOf("claude-sonnet-4-5"));
    assert.equal(priceOf("claude-3-7-sonnet-latest")?.input, 3);
    assert.equal(priceOf("claude-opus-4-1-20250805")?.output, 75);
    assert.equal(priceOf("claude-haiku-4-5-20251001")?.input, 1);
    assert.equal(priceOf("gpt-4.1-2025-04-14")?.input, 2, "OpenAI's dated names still found");
    assert.equal(priceOf("claude-unknown-9"), undefined);
  });

  it("prices Anthropic cache writes at 1.25x and cache reads at 0.1x the input price", () => {
    // Sonnet 4.5: $3 input, $3.75 cache write, $0.30 cache read, $15 output per million tokens.
    const usd = costUsd("claude-sonnet-4-5-20250929", {
      promptTokens: 1_000_000 + 2_000_000 + 4_000_000,
      cachedTokens: 4_000_000,
      cacheWriteTokens: 2_000_000,
      completionTokens: 1_000_000,
    });
    assert.equal(usd, 3 + 2 * 3.75 + 4 * 0.3 + 15);
  });

  it("prices as before when no cache writes are given", () => {
    const usd = costUsd("gpt-4o", { promptTokens: 2_000_000, cachedTokens: 1_000_000, completionTokens: 0 });
    assert.equal(usd, 2.5 + 1.25);
  });
});
