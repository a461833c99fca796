/**
 * What the install tests (and the Python e2e tests) share: running a command without blocking the event loop (the fake upstream and the
 * server under test live in the test's own process), an environment that carries nothing of the repository into
 * a project outside it, and a loud skip when a registry cannot be reached.
 */
import { spawn } from "node:child_process";
import path from "node:path";

export const ROOT = path.resolve(import.meta.dirname, "../..");

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to its end (killed after `timeoutMs`); never rejects for a non-zero exit. */
export function run(
  cmd: string,
  args: string[],
  opts: { cwd: string; env: NodeJS.ProcessEnv; timeoutMs: number },
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs);
    child.on("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** The command's output for an assertion message. */
export function describeRun(what: string, r: RunResult): string {
  return `${what} exited ${r.code ?? r.signal}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;
}

/**
 * The environment of a user's shell: without the repository's `node_modules/.bin` on the PATH, without the
 * `intersebd-source` condition (NODE_OPTIONS, from the repository's .npmrc) and without the `npm_*` variables of
 * the `npm test` running this (npm_config_local_prefix would make npm treat the repository as the project).
 */
export function userEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k === "NODE_OPTIONS" || k.toLowerCase().startsWith("npm_") || k.startsWith("INTERSEBD_")) continue;
    env[k] = v;
  }
  env.PATH = (process.env.PATH ?? "")
    .split(path.delimiter)
    .filter((dir) => dir !== "" && !path.resolve(dir).startsWith(ROOT))
    .join(path.delimiter);
  return { ...env, ...extra };
}

/** Output that means the package registry (or the network to it) is unreachable, not that the code is wrong. */
export function registryUnreachable(output: string): boolean {
  return /ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENETUNREACH|EHOSTUNREACH|ERR_SOCKET|request to https?:\/\/\S+ failed|network|Could not find a version that satisfies|No matching distribution found/i.test(
    output,
  );
}

/** Says loudly, where a person reading the test output will see it, that a test did not run and why. */
export function announceSkip(what: string, reason: string): void {
  process.stderr.write(`\n!!! ${what} SKIPPED: ${reason}\n\n`);
}
