/**
 * What a `link`/`annotate` call costs the caller, enabled (validate, serialise, queue) and disabled.
 * The flush interval is huge and sending happens between timed rounds through a no-op `fetch`, so only the
 * enqueue is measured. Prints one JSON line: {"enabledNs":..,"disabledNs":..,...}. Targets: < 2000 and < 50.
 *
 *   node packages/sdk/bench/sdk.bench.ts
 */
import { Intersebd } from "../src/index.ts";

const ROUND = 5_000;
const ROUNDS = 40;
const DISABLED_CALLS = 5_000_000;

const noopFetch: typeof fetch = async () => new Response(null, { status: 201 });

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1] ?? Number.NaN;
}

const sdk = new Intersebd({
  baseURL: "http://127.0.0.1:9",
  fetch: noopFetch,
  flushIntervalMs: 2_000_000_000,
  maxBatchSize: 10_000,
  maxQueueSize: 1_000_000,
  onError: (e) => {
    throw new Error(`benchmark input refused: ${e.message}`);
  },
});

// Inputs built up front: the caller's own object literal is not the SDK's cost.
const links = Array.from({ length: ROUND }, (_, i) => ({
  upstreamTag: `chatcmpl-bench${i}`,
  downstreamTag: `reply-${i}`,
  metadata: { step: "save" },
}));
const annotations = Array.from({ length: ROUND }, (_, i) => ({
  annotationKey: `reply-${i}`,
  numericReward: i & 1,
  data: { clicked: true },
}));

async function timeEnabled(call: (i: number) => void): Promise<number> {
  const perRound: number[] = [];
  for (let r = 0; r < ROUNDS + 5; r++) {
    const t0 = performance.now();
    for (let i = 0; i < ROUND; i++) call(i);
    const ns = ((performance.now() - t0) * 1e6) / ROUND;
    if (r >= 5) perRound.push(ns); // the first rounds warm up the JIT
    await sdk.flush();
  }
  return median(perRound);
}

const linkNs = await timeEnabled((i) => sdk.link(links[i] as (typeof links)[number]));
const annotateNs = await timeEnabled((i) => sdk.annotate(annotations[i] as (typeof annotations)[number]));
const stats = sdk.stats();
if (stats.failed !== 0 || stats.dropped !== 0 || stats.queued !== 0) {
  throw new Error(`benchmark lost events: ${JSON.stringify(stats)}`);
}

sdk.enabled = false;
const link = links[0] as (typeof links)[number];
const annotation = annotations[0] as (typeof annotations)[number];
const disabledRounds: number[] = [];
for (let r = 0; r < 5; r++) {
  const t0 = performance.now();
  for (let i = 0; i < DISABLED_CALLS; i++) {
    sdk.link(link);
    sdk.annotate(annotation);
  }
  disabledRounds.push(((performance.now() - t0) * 1e6) / (2 * DISABLED_CALLS));
}
if (sdk.stats().sent !== stats.sent) throw new Error("a disabled call sent something");

const round = (x: number) => Math.round(x * 10) / 10;
process.stdout.write(
  `${JSON.stringify({
    enabledNs: round((linkNs + annotateNs) / 2),
    disabledNs: round(median(disabledRounds)),
    enabledLinkNs: round(linkNs),
    enabledAnnotateNs: round(annotateNs),
  })}\n`,
);
