import cluster from "node:cluster";
import module from "node:module";
import { Command, InvalidArgumentError } from "commander";
import { type Config, ConfigError, type ConfigOverrides, loadConfig } from "../config/index.ts";
import { clusterExposition } from "../metrics/index.ts";
import { startServer } from "../server.ts";
import { installLastDefence } from "../util/last-defence.ts";
import { createLogger, type Logger } from "../util/log.ts";
import { startWhenStoreAnswers } from "./wait-for-store.ts";
import { type Listening, parseWorkers, primaryChannel, runPrimary } from "./workers.ts";

const collect = (value: string, previous: string[] = []) => [...previous, value];

function parsePort(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535)
    throw new InvalidArgumentError("expected a port number, 0 to 65535");
  return n;
}

export function serveCommand(): Command {
  return new Command("serve")
    .description("run the proxy, the REST API and the web app")
    .option("-p, --port <port>", "port to listen on (INTERSEBD_PORT, default 8787)", parsePort)
    .option("--host <host>", "address to bind (INTERSEBD_HOST, default 127.0.0.1)")
    .option(
      "-u, --upstream <url|name=url>",
      "default upstream URL, or a named one reached at /<name>/v1; repeatable (INTERSEBD_UPSTREAM, INTERSEBD_UPSTREAMS)",
      collect,
    )
    .option(
      "--db <url|file>",
      "postgres://... or a SQLite file (DATABASE_URL, default ./.intersebd/intersebd.sqlite)",
    )
    .option("--capture <mode>", "full | redacted | metadata (INTERSEBD_CAPTURE, default full)")
    .option(
      "--data-dir <dir>",
      "where the SQLite file and spool live (INTERSEBD_DATA_DIR, default ./.intersebd)",
    )
    .option(
      "--workers <n|auto>",
      "server processes on one port: a number, or auto for one per core (INTERSEBD_WORKERS, default 1)",
    )
    .action(async ({ workers: workersFlag, ...flags }: ConfigOverrides & { workers?: string }) => {
      let config: ReturnType<typeof loadConfig>;
      let workers: number;
      try {
        config = loadConfig(process.env, flags);
        workers = parseWorkers(workersFlag ?? process.env.INTERSEBD_WORKERS ?? "1");
      } catch (err) {
        if (err instanceof ConfigError || err instanceof InvalidArgumentError) {
          process.stderr.write(`intersebd: ${err.message}\n`);
          process.exit(2);
        }
        throw err;
      }
      // Until the server runs there is nothing to drain, and a stop signal ends the process. Node gives a
      // container's PID 1 no default action for SIGTERM: without this, `docker stop` during the wait for the
      // database would hang until its SIGKILL.
      const exitEarly = (signal: NodeJS.Signals) => {
        process.stderr.write(`intersebd: ${signal} before the server started; exiting\n`);
        process.exit(signal === "SIGINT" ? 130 : 143);
      };
      // One listener per signal for the life of the process, its action swapped once the server runs: removing
      // the last listener closes Node's signal watcher, and a signal that arrived while startup held the event
      // loop (and was not yet dispatched) would be dropped with it, leaving a server that ignores its first SIGTERM.
      let onSignal: (signal: NodeJS.Signals) => void = exitEarly;
      process.on("SIGTERM", (signal) => onSignal(signal));
      process.on("SIGINT", (signal) => onSignal(signal));
      // With INTERSEBD_LOG_FORMAT=json what this command says goes through the logger too, so that a log
      // collector reads nothing but JSON lines; the text banner below is for a person at a terminal.
      const log = createLogger(config.logLevel, undefined, config.logFormat);
      const json = config.logFormat === "json";
      const say = (line: string) =>
        json
          ? log.info(line.trim().replace(/^intersebd: /, ""), { component: "serve" })
          : process.stdout.write(line);
      const storeWait = {
        waitSeconds: config.dbWaitSeconds,
        write: (line: string) =>
          json
            ? log.warn(line.trim().replace(/^intersebd: /, ""), { component: "store" })
            : process.stderr.write(line),
      };
      const inWorker = cluster.isWorker && process.env.INTERSEBD_WORKER === "1";
      if (workers > 1 && !inWorker) {
        let primary: Awaited<ReturnType<typeof runPrimary>>;
        try {
          primary = await startWhenStoreAnswers(
            () =>
              runPrimary(config, workers, log, (first, pids) =>
                announce(config, log, first, `${workers} workers (pids ${pids.join(", ")})`),
              ),
            config.db,
            storeWait,
          );
        } catch (err) {
          cannotStart(config, log, err as NodeJS.ErrnoException);
        }
        let stopping = false;
        onSignal = (signal) => {
          if (stopping) return;
          stopping = true;
          say(`intersebd: ${signal}, draining ${workers} workers...\n`);
          void primary.stop().then(() => process.exit(0));
        };
        return;
      }
      // A worker of `--workers N` on SQLite hands its calls to the primary's writer (cli/workers.ts).
      const writer = inWorker && config.db.kind === "sqlite" ? primaryChannel() : undefined;
      let server: Awaited<ReturnType<typeof startServer>>;
      try {
        server = await startWhenStoreAnswers(
          () => startServer(config, { log, writer }),
          config.db,
          storeWait,
        );
      } catch (err) {
        cannotStart(config, log, err as NodeJS.ErrnoException);
      }
      // From here on an error nothing caught is logged and counted, and the server keeps serving (why: see
      // util/last-defence.ts).
      installLastDefence({ log: server.ctx.log, uncaughtErrors: server.ctx.metrics.uncaughtErrors });
      // A scrape reaches one worker of `--workers N`: it answers with every worker's figures (metrics/cluster.ts).
      if (inWorker) server.ctx.metrics.exposition = clusterExposition(server.ctx.metrics.registry);
      // Node writes its compile cache at a clean exit; a server is often stopped otherwise (SIGKILL, a crash, an
      // out-of-memory kill), and every start would then strip and compile the sources again, with the type
      // stripper resident (about 20 MB) for the life of the process. Everything the server loads is loaded now.
      module.flushCompileCache?.();
      const listening: Listening = {
        t: "listening",
        url: server.url,
        store: server.ctx.store.description,
        dialect: server.ctx.store.dialect.name,
      };
      // A worker's primary says it once, for all of them.
      if (inWorker) process.send?.(listening);
      else announce(config, log, listening);
      let stopping = false;
      const stop = async (signal: string) => {
        if (stopping) return;
        stopping = true;
        say(`intersebd: ${signal}, draining the capture queue...\n`);
        await server.close();
        process.exit(0);
      };
      onSignal = (signal) => void stop(signal);
      // The primary is gone (killed), and with it the port's listening socket: this worker can serve nothing more.
      // On PostgreSQL it drains its own queue; on SQLite the primary was its writer, so it exits at once (what it
      // answered is in its journal, which the next start replays): waiting for a drain that cannot come would
      // leave it running, orphaned.
      if (inWorker) process.on("disconnect", () => (writer ? process.exit(1) : void stop("primary gone")));
    });
}

function cannotStart(config: Config, log: Logger, e: NodeJS.ErrnoException): never {
  const hint =
    e.code === "EADDRINUSE"
      ? ` (port ${config.port} is taken: pass --port or set INTERSEBD_PORT)`
      : e.code === "ECONNREFUSED"
        ? " (is PostgreSQL running at DATABASE_URL?)"
        : "";
  if (config.logFormat === "json") log.error(`could not start: ${e.message}${hint}`, { component: "serve" });
  else process.stderr.write(`intersebd: could not start: ${e.message}${hint}\n`);
  process.exit(1);
}

/** The startup line: where it listens, which store, which upstreams (and, with --workers N, which processes). */
function announce(config: Config, log: Logger, at: Listening, workers?: string): void {
  const upstreams = [...config.upstreams.values()]
    .map(
      (u) =>
        `${u.name === "default" ? "/v1" : `/${u.name}/v1`} → ${u.baseUrl.href}${u.apiKey ? " (key set)" : ""}`,
    )
    .join(", ");
  if (config.logFormat === "json")
    log.info("listening", {
      component: "serve",
      url: at.url,
      baseURL: `${at.url}/v1`,
      upstreams: [...config.upstreams.keys()].join(","),
      store: at.dialect,
      capture: config.capture,
      auth: Boolean(config.apiKey),
      ...(workers ? { workers } : {}),
    });
  else
    process.stdout.write(
      [
        `intersebd listening on ${at.url}`,
        `  proxy:    ${upstreams}`,
        `  store:    ${at.store}`,
        ...(workers ? [`  workers:  ${workers}`] : []),
        `  capture:  ${config.capture}; auth: ${config.apiKey ? "API key required" : "off (loopback only)"}`,
        `  point your client at: new OpenAI({ baseURL: "${at.url}/v1" })`,
        "",
      ].join("\n"),
    );
}
