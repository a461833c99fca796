/**
 * USD prices per million tokens for common OpenAI and Anthropic models, also reached through OpenRouter as
 * `openai/<model>`.
 * A model not in the table has no cost (null): a guess would be worse than nothing.
 * Source: the providers' published price pages; update when they change.
 */

interface Price {
  input: number;
  /** Input read from the prompt cache (OpenAI's cached tokens, Anthropic's cache reads). */
  cachedInput?: number;
  /** Input written to the prompt cache (Anthropic's cache writes, 5-minute TTL: 1.25 × input). */
  cacheWrite?: number;
  output: number;
}

const PRICES: Record<string, Price> = {
  "gpt-5": { input: 1.25, cachedInput: 0.125, output: 10 },
  "gpt-5-mini": { input: 0.25, cachedInput: 0.025, output: 2 },
  "gpt-5-nano": { input: 0.05, cachedInput: 0.005, output: 0.4 },
  "gpt-4.1": { input: 2, cachedInput: 0.5, output: 8 },
  "gpt-4.1-mini": { input: 0.4, cachedInput: 0.1, output: 1.6 },
  "gpt-4.1-nano": { input: 0.1, cachedInput: 0.025, output: 0.4 },
  "gpt-4o": { input: 2.5, cachedInput: 1.25, output: 10 },
  "gpt-4o-mini": { input: 0.15, cachedInput: 0.075, output: 0.6 },
  "gpt-4-turbo": { input: 10, output: 30 },
  "gpt-4": { input: 30, output: 60 },
  "gpt-3.5-turbo": { input: 0.5, output: 1.5 },
  o1: { input: 15, cachedInput: 7.5, output: 60 },
  "o1-mini": { input: 1.1, cachedInput: 0.55, output: 4.4 },
  o3: { input: 2, cachedInput: 0.5, output: 8 },
  "o3-mini": { input: 1.1, cachedInput: 0.55, output: 4.4 },
  "o4-mini": { input: 1.1, cachedInput: 0.275, output: 4.4 },
  // Anthropic (claude.com/pricing): cache writes at 1.25 × input (5-minute TTL), cache reads at 0.1 × input.
  "claude-opus-4-5": { input: 5, cachedInput: 0.5, cacheWrite: 6.25, output: 25 },
  "claude-opus-4-1": { input: 15, cachedInput: 1.5, cacheWrite: 18.75, output: 75 },
  "claude-opus-4": { input: 15, cachedInput: 1.5, cacheWrite: 18.75, output: 75 },
  "claude-sonnet-4-5": { input: 3, cachedInput: 0.3, cacheWrite: 3.75, output: 15 },
  "claude-sonnet-4": { input: 3, cachedInput: 0.3, cacheWrite: 3.75, output: 15 },
  "claude-3-7-sonnet": { input: 3, cachedInput: 0.3, cacheWrite: 3.75, output: 15 },
  "claude-3-5-sonnet": { input: 3, cachedInput: 0.3, cacheWrite: 3.75, output: 15 },
  "claude-haiku-4-5": { input: 1, cachedInput: 0.1, cacheWrite: 1.25, output: 5 },
  "claude-3-5-haiku": { input: 0.8, cachedInput: 0.08, cacheWrite: 1, output: 4 },
  "claude-3-haiku": { input: 0.25, cachedInput: 0.03, cacheWrite: 0.3, output: 1.25 },
  "claude-3-opus": { input: 15, cachedInput: 1.5, cacheWrite: 18.75, output: 75 },
  // OpenRouter names for other providers' popular models.
  "anthropic/claude-sonnet-4": { input: 3, cachedInput: 0.3, output: 15 },
  "anthropic/claude-3.5-haiku": { input: 0.8, cachedInput: 0.08, output: 4 },
  "google/gemini-2.5-flash": { input: 0.3, cachedInput: 0.075, output: 2.5 },
  "google/gemini-2.5-pro": { input: 1.25, cachedInput: 0.31, output: 10 },
  "meta-llama/llama-3.3-70b-instruct": { input: 0.13, output: 0.4 },
};

/**
 * Finds a model's price: exact name, without an `openai/` prefix, or without a dated snapshot suffix (OpenAI's
 * `-2025-04-14`, Anthropic's `-20250929`) or Anthropic's `-latest` alias.
 */
export function priceOf(model: string | null | undefined): Price | undefined {
  if (!model) return undefined;
  const name = model.toLowerCase();
  const candidates = [name, name.replace(/^openai\//, "")];
  for (const c of [...candidates]) candidates.push(c.replace(/-(?:\d{4}-\d{2}-\d{2}|\d{8}|latest)$/, ""));
  for (const c of candidates) {
    const p = PRICES[c];
    if (p) return p;
  }
  return undefined;
}

export interface TokenUsage {
  promptTokens: number | null;
  completionTokens: number | null;
  cachedTokens: number | null;
  /** Input tokens written to the prompt cache (Anthropic), counted in `promptTokens` like cached ones. */
  cacheWriteTokens?: number | null;
}

/** Cost in USD, or null when the model's price or the usage is unknown. */
export function costUsd(model: string | null | undefined, usage: TokenUsage): number | null {
  const price = priceOf(model);
  if (!price || usage.promptTokens === null || usage.completionTokens === null) return null;
  const cached = Math.min(usage.cachedTokens ?? 0, usage.promptTokens);
  const written = Math.min(usage.cacheWriteTokens ?? 0, usage.promptTokens - cached);
  const cost =
    ((usage.promptTokens - cached - written) * price.input +
      cached * (price.cachedInput ?? price.input) +
      written * (price.cacheWrite ?? price.input) +
      usage.completionTokens * price.output) /
    1e6;
  return Math.round(cost * 1e10) / 1e10;
}
