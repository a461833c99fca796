/**
 * The writer thread's entry (writer.ts, `startWriterThread`). Node's compile cache is enabled per thread, and
 * before the writer's modules load: they then come compiled from the cache the server's start wrote, without the
 * type stripper in this thread's memory.
 */
import module from "node:module";
import { parentPort, workerData } from "node:worker_threads";

module.enableCompileCache?.();
const { runWriterThread } = (await import(
  new URL(import.meta.url.endsWith(".ts") ? "./writer.ts" : "./writer.js", import.meta.url).href
)) as typeof import("./writer.ts");
if (!parentPort) throw new Error("writer-entry.ts runs as a worker thread (writer.ts starts it)");
await runWriterThread(workerData, parentPort);
