/**
 * The fake upstream as several processes on one port (node:cluster), so that it does not cap what N proxy
 * workers can reach in bench/scaling.ts. Usage: node bench/cluster-upstream.ts <port> <processes>
 */
import cluster from "node:cluster";
import { startFakeUpstream } from "../packages/server/src/fake-upstream/index.ts";

const port = Number(process.argv[2]);
const processes = Number(process.argv[3] ?? 1);

if (cluster.isPrimary) {
  for (let i = 0; i < processes; i++) cluster.fork();
  process.on("SIGTERM", () => {
    for (const w of Object.values(cluster.workers ?? {})) w?.kill();
    process.exit(0);
  });
} else {
  await startFakeUpstream({ port, keepRequests: false });
}
