/**
 * What a running server holds, handed to the API and domains. Built once in `server.ts`.
 */
// From the file, not the calls door: the door exports the routes, which take this context (an import cycle).
import type { Recorder } from "./calls/recorder.ts";
import type { Config } from "./config/index.ts";
import type { Metrics } from "./metrics/index.ts";
import type { Store } from "./store/index.ts";
import type { Logger } from "./util/log.ts";

export interface AppContext {
  config: Config;
  store: Store;
  recorder: Recorder;
  metrics: Metrics;
  log: Logger;
  /** The URL this server is reached at (public URL if configured), known once it listens. */
  baseUrl(): string;
  /** Registers work to stop on shutdown (background workers), run before the store closes. */
  onClose(fn: () => Promise<void> | void): void;
}
