/**
 * What the commands that talk to a running intersebd through its REST API share (`intersebd experiments`,
 * `evaluators`, `conversations`, `keys`, `erase`): the `--url` / `--key` flags and their variables (the SDKs'
 * `INTERSEBD_URL`, `INTERSEBD_API_KEY`), the client, the exit codes, printing, and reading a JSON body file.
 */
import fs from "node:fs";
import { Command } from "commander";
import { HttpError } from "../http/error.ts";
import { UsageError } from "./export.ts";

const DEFAULT_URL = "http://127.0.0.1:8787";

export interface ServerFlags {
  url?: string;
  key?: string;
  json?: boolean;
}

/** The REST API of the server at `--url`; an answer that is not 2xx throws HttpError with the server's message. */
export function client(flags: ServerFlags) {
  const base = (flags.url ?? process.env.INTERSEBD_URL ?? DEFAULT_URL).replace(/\/+$/, "");
  const key = flags.key ?? process.env.INTERSEBD_API_KEY;
  return async <T>(method: "GET" | "POST" | "DELETE", path: string, body?: unknown): Promise<T> => {
    let res: Response;
    try {
      res = await fetch(`${base}/api${path}`, {
        method,
        headers: { "content-type": "application/json", ...(key ? { "x-intersebd-key": key } : {}) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (err) {
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      throw new HttpError(
        503,
        `cannot reach ${base} (${cause?.code ?? cause?.message ?? (err as Error).message}): ` +
          "is intersebd serve running there? Point --url (or INTERSEBD_URL) at it",
      );
    }
    const json = (await res.json().catch(() => ({}))) as { error?: { message?: string } };
    if (!res.ok) {
      const hint = res.status === 401 ? " (pass --key or set INTERSEBD_API_KEY)" : "";
      throw new HttpError(res.status, `${json.error?.message ?? `HTTP ${res.status}`}${hint}`);
    }
    return json as T;
  };
}

/** `--url` and `--key` on every subcommand, as the SDKs name them. */
export function serverOptions(cmd: Command): Command {
  return cmd
    .option("--url <url>", `the intersebd server (INTERSEBD_URL, default ${DEFAULT_URL})`)
    .option("--key <key>", "its API key (INTERSEBD_API_KEY)");
}

/** A top-level command whose bad or missing flags exit 2, like the commands' own checks (commander says 1). */
export function usageCommand(name: string, description: string): Command {
  return new Command(name)
    .description(description)
    .showHelpAfterError("(run with --help for usage)")
    .exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : 2));
}

export const out = (s: string): void => {
  process.stdout.write(s.endsWith("\n") ? s : `${s}\n`);
};

/**
 * Reads a JSON object (a request body) from `--file`, or from standard input for `-`; `expected` says what it
 * should hold, for the error when it is not an object.
 */
export function readJsonFile(file: string, expected: string): Record<string, unknown> {
  let text: string;
  try {
    text = fs.readFileSync(file === "-" ? 0 : file, "utf8");
  } catch (err) {
    throw new UsageError(`--file ${file}: cannot read it (${(err as Error).message})`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new UsageError(`--file ${file}: not valid JSON (${(err as Error).message})`);
  }
  if (!value || typeof value !== "object" || Array.isArray(value))
    throw new UsageError(`--file ${file}: expected a JSON object with ${expected}`);
  return value as Record<string, unknown>;
}
