/**
 * The fake upstream, answering every request after a fixed wait: the slow upstream a shadow variant points at in
 * `npm run bench` (intersebd sends the shadow copy, so no per-request header can slow it).
 * Usage: node bench/slow-upstream.ts <port> <delay ms>
 */
import { startFakeUpstream } from "../packages/server/src/fake-upstream/index.ts";

const [port, delayMs] = [Number(process.argv[2]), Number(process.argv[3] ?? 100)];
await startFakeUpstream({ port, delayMs, keepRequests: false });
process.stdout.write(`slow fake upstream on ${port}, ${delayMs} ms per request\n`);
