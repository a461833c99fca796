/**
 * Prometheus metrics (prom-client), one registry per server so tests can run several in one process.
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

export { clusterExposition, type MetricsMessage, serveClusterMetrics } from "./cluster.ts";

export function createMetrics() {
  const registry = new Registry();
  // Set once the store is open (retention/start.ts); read at each scrape.
  let storeSize: (() => Promise<number | undefined>) | undefined;
  collectDefaultMetrics({ register: registry, prefix: "intersebd_process_" });
  return {
    registry,
    /** What `/metrics` answers: this registry's exposition, or with `serve --workers N` the cluster's (cluster.ts). */
    exposition: () => registry.metrics(),
    proxiedRequests: new Counter({
      name: "intersebd_proxied_requests_total",
      help: "Requests forwarded to an upstream, by upstream, kind (chat or other) and response status",
      labelNames: ["upstream", "kind", "status"] as const,
      registers: [registry],
    }),
    upstreamLatency: new Histogram({
      name: "intersebd_upstream_latency_seconds",
      help: "Time from receiving a request to the upstream's response headers",
      labelNames: ["upstream"] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers: [registry],
    }),
    queueDepth: new Gauge({
      name: "intersebd_queue_depth",
      help: "Captured calls waiting in memory to be written to the store",
      registers: [registry],
    }),
    journalBacklog: new Gauge({
      name: "intersebd_journal_backlog",
      help: "Captured calls waiting in the answered journal on disk to be written, the memory queue being full",
      registers: [registry],
    }),
    spooledRecords: new Counter({
      name: "intersebd_spooled_records_total",
      help: "Captured calls written to the spool file because the store was unreachable",
      registers: [registry],
    }),
    replayedRecords: new Counter({
      name: "intersebd_replayed_records_total",
      help: "Spooled calls replayed into the store",
      registers: [registry],
    }),
    droppedRecords: new Counter({
      name: "intersebd_dropped_records_total",
      help: "Captured calls lost: the memory queue was full and the answered journal could not be written, or no spool file either",
      registers: [registry],
    }),
    rejectedRecords: new Counter({
      name: "intersebd_rejected_records_total",
      help: "Captured calls that could not be stored, kept in the data directory's rejected-*.jsonl, by reason (unbuildable: the record could not be built; store_refused: the store refused the row)",
      labelNames: ["reason"] as const,
      registers: [registry],
    }),
    uncaughtErrors: new Counter({
      name: "intersebd_uncaught_errors_total",
      help: "Errors that reached the process's last line of defence (uncaught exceptions, unhandled rejections); each is a bug, logged with its stack",
      labelNames: ["kind"] as const,
      registers: [registry],
    }),
    sampledOut: new Counter({
      name: "intersebd_calls_sampled_out_total",
      help: "Captured calls not stored because sampling left them out (INTERSEBD_SAMPLE_RATE, INTERSEBD_SAMPLE_RULES), by upstream and the rule that decided (rate: the global rate, or the matching rule)",
      labelNames: ["upstream", "rule"] as const,
      registers: [registry],
    }),
    sampleDecisions: new Counter({
      name: "intersebd_calls_sampling_decisions_total",
      help: "Sampling decisions on captured calls while sampling is on, by decision (kept, dropped) and reason (errors, slow, session, user, experiment, tag, internal, sampled, or rate when dropped)",
      labelNames: ["decision", "reason"] as const,
      registers: [registry],
    }),
    storedCalls: new Counter({
      name: "intersebd_stored_calls_total",
      help: "Calls written to the store",
      registers: [registry],
    }),
    tokens: new Counter({
      name: "intersebd_tokens_total",
      help: "Tokens used by captured calls, by upstream, served model and kind (prompt, completion)",
      labelNames: ["upstream", "model", "kind"] as const,
      registers: [registry],
    }),
    shadowCalls: new Counter({
      name: "intersebd_shadow_calls_total",
      help: "Shadow calls of experiments (experiments/shadow.ts), by experiment and outcome: ok, upstream_error, timeout, network_error, or skipped_concurrency / skipped_daily_cost when a cap kept it from being sent",
      labelNames: ["experiment", "outcome"] as const,
      registers: [registry],
    }),
    costUsd: new Counter({
      name: "intersebd_cost_usd_total",
      help: "Cost in USD of captured calls whose model price is known",
      labelNames: ["upstream", "model"] as const,
      registers: [registry],
    }),
    storeBytes: new Gauge({
      name: "intersebd_store_bytes",
      help: "Bytes the store takes: SQLite, its file and WAL; PostgreSQL, intersebd's tables with their indexes",
      registers: [registry],
      async collect() {
        const bytes = await storeSize?.();
        if (bytes !== undefined) this.set(bytes);
      },
    }),
    /** Where `intersebd_store_bytes` reads the store's size; answering undefined leaves the last value. */
    measureStoreWith(fn: () => Promise<number | undefined>): void {
      storeSize = fn;
    },
  };
}

export type Metrics = ReturnType<typeof createMetrics>;

/** What `countCall` reads of a captured call's row. */
export interface CountedCall {
  upstream: string;
  servedModel?: string | null;
  requestedModel?: string | null;
  promptTokens?: number | null;
  completionTokens?: number | null;
  costUsd?: number | null;
}

/** Counts a proxied call's tokens and cost, by upstream and model (served, else requested). */
export function countCall(metrics: Metrics, row: CountedCall): void {
  const model = row.servedModel ?? row.requestedModel ?? "unknown";
  if (row.promptTokens)
    metrics.tokens.inc({ upstream: row.upstream, model, kind: "prompt" }, row.promptTokens);
  if (row.completionTokens)
    metrics.tokens.inc({ upstream: row.upstream, model, kind: "completion" }, row.completionTokens);
  if (row.costUsd) metrics.costUsd.inc({ upstream: row.upstream, model }, row.costUsd);
}
