/**
 * @intersebd/server: start an intersebd server from code.
 *
 * @example
 * import { loadConfig, startServer } from "@intersebd/server";
 * const server = await startServer(loadConfig());
 * console.log(server.url);
 */
export { type Config, ConfigError, loadConfig } from "./config/index.ts";
export { type RunningServer, startServer } from "./server.ts";
