/**
 * `/metrics` for `serve --workers N` (cli/workers.ts): a scrape reaches whichever worker node:cluster hands the
 * connection to, so each worker answering with its own counters made every series jump from scrape to scrape.
 * The worker that is scraped asks the primary, which gathers every worker's registry through prom-client's
 * cluster aggregation (counters and histograms summed across workers, gauges as each metric's aggregator says)
 * and sends back the exposition. A primary that does not answer in time leaves the worker's own figures, said so
 * in a comment line, rather than a failed scrape.
 */
import cluster from "node:cluster";
import { AggregatorRegistry, type Registry } from "prom-client";

/** Worker to primary: the cluster's exposition, please; primary to worker: here it is (or why not). */
export type MetricsMessage =
  | { t: "cluster-metrics"; id: number }
  | { t: "cluster-metrics-reply"; id: number; text?: string; error?: string };

const WAIT_MS = 3000;

/**
 * In a worker: makes `registry` the one the primary's aggregation reads, and returns what `/metrics` answers with.
 */
export function clusterExposition(registry: Registry): () => Promise<string> {
  AggregatorRegistry.setRegistries([registry]);
  // prom-client answers the primary's requests from a listener it installs when an AggregatorRegistry is made.
  new AggregatorRegistry();
  let nextId = 0;
  const waiting = new Map<number, (reply: Extract<MetricsMessage, { t: "cluster-metrics-reply" }>) => void>();
  process.on("message", (msg: MetricsMessage) => {
    if (msg?.t === "cluster-metrics-reply") waiting.get(msg.id)?.(msg);
  });
  const own = async (why: string) =>
    `# intersebd: this worker's figures only (${why})\n${await registry.metrics()}`;
  return async () => {
    if (!process.connected) return own("the primary is gone");
    const id = ++nextId;
    const reply = await new Promise<Extract<MetricsMessage, { t: "cluster-metrics-reply" }> | undefined>(
      (resolve) => {
        const timer = setTimeout(() => resolve(undefined), WAIT_MS);
        waiting.set(id, (r) => {
          clearTimeout(timer);
          resolve(r);
        });
        process.send?.({ t: "cluster-metrics", id } satisfies MetricsMessage);
      },
    ).finally(() => waiting.delete(id));
    if (reply?.text !== undefined) return reply.text;
    return own(reply?.error ?? `the primary did not answer within ${WAIT_MS} ms`);
  };
}

/** In the primary: answers a worker's request with every worker's metrics, aggregated. */
export function serveClusterMetrics(): (
  worker: { send(msg: MetricsMessage): void },
  msg: { t: string },
) => void {
  if (!cluster.isPrimary) throw new Error("serveClusterMetrics runs in the primary");
  const aggregator = new AggregatorRegistry();
  return (worker, msg) => {
    if (msg.t !== "cluster-metrics") return;
    const { id } = msg as Extract<MetricsMessage, { t: "cluster-metrics" }>;
    aggregator.clusterMetrics().then(
      (text) => worker.send({ t: "cluster-metrics-reply", id, text }),
      (err: unknown) =>
        worker.send({ t: "cluster-metrics-reply", id, error: String((err as Error)?.message ?? err) }),
    );
  };
}
