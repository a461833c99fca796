/**
 * The image and the compose file as a user runs them: builds the Dockerfile, starts compose.yaml (intersebd and
 * PostgreSQL) plus a fake upstream from the same image (compose.test.yaml), sends a chat completion through the
 * container with the official `openai` client, reads the call back from /api/calls with the API key, checks the
 * image's healthcheck and that SIGTERM drains, then removes every container, volume and network it created.
 *
 * Needs podman, podman-compose and the base images (node:24-slim, postgres:17); without them it skips, loudly.
 * With no registry reachable, `../shared/tools/local-images.sh` (beside the repository on CI) builds local
 * stand-ins for the base images and configures podman: `out=$(../shared/tools/local-images.sh) && eval "$out"`.
 * INTERSEBD_TEST_CONTAINER=0 skips it. The image is kept, tagged localhost/intersebd-test:latest, so that the next
 * run reuses its layers (`podman rmi localhost/intersebd-test:latest` removes it).
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import crypto from "node:crypto";
import path from "node:path";
import { after, afterEach, before, describe, it } from "node:test";
import OpenAI from "openai";
import { eventually, freePort } from "../../packages/server/src/testing/index.ts";

const ROOT = path.resolve(import.meta.dirname, "../..");
const IMAGE = "localhost/intersebd-test:latest";
const BASE_IMAGES = ["docker.io/library/node:24-slim", "docker.io/library/postgres:17"];
const PROJECT = `intersebd-test-${process.pid}-${crypto.randomBytes(3).toString("hex")}`;
const API_KEY = `key-${crypto.randomBytes(12).toString("hex")}`;
const COMPOSE_FILES = [
  "-f",
  path.join(ROOT, "compose.yaml"),
  "-f",
  path.join(import.meta.dirname, "compose.test.yaml"),
];

interface Ran {
  code: number;
  out: string;
}

/** Runs a command to its end; never throws (the caller decides what a failure means). */
function run(
  cmd: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<Ran> {
  return new Promise((resolve) => {
    execFile(
      cmd,
      args,
      {
        cwd: ROOT,
        env: opts.env ?? process.env,
        timeout: opts.timeoutMs ?? 60_000,
        maxBuffer: 64 * 1024 * 1024,
      },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === "number" ? err.code : 1) : 0;
        resolve({ code, out: `${stdout}${stderr}` });
      },
    );
  });
}

async function must(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}) {
  const r = await run(cmd, args, opts);
  assert.equal(r.code, 0, `${cmd} ${args.join(" ")} failed (${r.code}):\n${r.out.slice(-6000)}`);
  return r.out;
}

/** Why the test cannot run here, or undefined when it can. */
async function missing(): Promise<string | undefined> {
  if (process.env.INTERSEBD_TEST_CONTAINER === "0") return "INTERSEBD_TEST_CONTAINER=0";
  for (const tool of ["podman", "podman-compose"]) {
    if ((await run(tool, ["--version"])).code !== 0) return `${tool} is not installed`;
  }
  for (const image of BASE_IMAGES) {
    if ((await run("podman", ["image", "exists", image])).code !== 0)
      return `the base image ${image} is absent`;
  }
  // crun, podman's default runtime, fails on some kernels: local-images.sh sets CONTAINERS_CONF to use runc.
  const probe = await run("podman", ["run", "--rm", "--entrypoint", "true", BASE_IMAGES[0] as string]);
  if (probe.code !== 0) return `podman cannot run a container here: ${probe.out.trim().slice(-400)}`;
  return undefined;
}

describe("container: Dockerfile and compose.yaml", { timeout: 15 * 60_000 }, () => {
  let skip: string | undefined;
  let base = "";
  let env: NodeJS.ProcessEnv = {};
  const intersebd = `${PROJECT}_intersebd_1`;
  const compose = (...args: string[]) => ["-p", PROJECT, ...COMPOSE_FILES, ...args];
  let failed = false;
  afterEach((t) => {
    if ("passed" in t && !t.passed) failed = true;
  });

  before(async () => {
    skip = await missing();
    if (skip) {
      process.stderr.write(
        `\n!!! container test SKIPPED: ${skip}.\n` +
          "!!! Install podman and podman-compose, and the base images; where no registry is reachable, run\n" +
          '!!!   out=$(../shared/tools/local-images.sh) && eval "$out"\n' +
          "!!! (it builds local node:24-slim and postgres:17 and sets CONTAINERS_CONF), then run this test again.\n\n",
      );
      return;
    }
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    env = {
      ...process.env,
      INTERSEBD_IMAGE: IMAGE,
      INTERSEBD_PORT: String(port),
      INTERSEBD_API_KEY: API_KEY,
      INTERSEBD_UPSTREAM: "http://upstream:9999/v1",
      POSTGRES_PASSWORD: crypto.randomBytes(8).toString("hex"),
    };
    const started = Date.now();
    // --format docker keeps the HEALTHCHECK (podman's default OCI format has no place for it).
    await must("podman", ["build", "--format", "docker", "-t", IMAGE, "."], { timeoutMs: 10 * 60_000 });
    process.stderr.write(`container test: image built in ${Math.round((Date.now() - started) / 1000)} s\n`);
    await must("podman-compose", compose("up", "-d", "--no-build"), { env, timeoutMs: 3 * 60_000 });
  });

  after(async () => {
    if (skip) return;
    // Printed only when a test failed, so that the reason is in the test's output.
    const logs = failed ? await run("podman", ["logs", intersebd]) : undefined;
    const down = await run("podman-compose", compose("down", "-v"), { env, timeoutMs: 2 * 60_000 });
    // podman-compose 1.0 leaves the project's network behind.
    await run("podman", ["network", "rm", "-f", `${PROJECT}_default`]);
    const left = await run("podman", [
      "ps",
      "-a",
      "-q",
      "--filter",
      `label=io.podman.compose.project=${PROJECT}`,
    ]);
    if (down.code !== 0 || left.out.trim()) {
      process.stderr.write(`container test: cleanup incomplete:\n${down.out.slice(-3000)}\n${left.out}\n`);
    }
    if (logs) process.stderr.write(`intersebd container log:\n${logs.out.slice(-6000)}\n`);
  });

  it("serves on PostgreSQL, proxies a chat completion and stores it, readable with the API key", async (t) => {
    if (skip) return t.skip(skip);
    const health = await eventually(
      async () => {
        const r = await fetch(`${base}/healthz`);
        const body = (await r.json()) as { status: string; store: string; storeReachable: boolean };
        return r.ok && body.storeReachable && body;
      },
      180_000,
      "the container's /healthz",
    );
    assert.equal(health.store, "postgres");
    const page = await fetch(`${base}/`);
    assert.equal(page.status, 200, "the image carries the built web app");
    assert.match(await page.text(), /<script[^>]+src="\/assets\//);

    const openai = new OpenAI({
      baseURL: `${base}/v1`,
      apiKey: "sk-test",
      maxRetries: 0,
      defaultHeaders: { "x-intersebd-key": API_KEY },
    });
    const r = await openai.chat.completions.create({
      model: "gpt-4o-mini",
      messages: [{ role: "user", content: "hello from the container test" }],
    });
    assert.equal(r.choices[0]?.message.content, "echo: hello from the container test");

    assert.equal((await fetch(`${base}/api/calls`)).status, 401, "the API needs the key");
    const call = await eventually(
      async () => {
        const res = await fetch(`${base}/api/calls?limit=10`, { headers: { "x-intersebd-key": API_KEY } });
        const body = (await res.json()) as { data: Array<{ completionId: string; requestedModel: string }> };
        return body.data.find((c) => c.completionId === r.id);
      },
      30_000,
      "the call in /api/calls",
    );
    assert.equal(call.requestedModel, "gpt-4o-mini");
  });

  it("passes the image's healthcheck, runs as a non-root user, and drains on SIGTERM", async (t) => {
    if (skip) return t.skip(skip);
    // Podman runs no healthcheck timers without systemd; `healthcheck run` runs the check once, now.
    await must("podman", ["healthcheck", "run", intersebd]);
    assert.equal((await must("podman", ["exec", intersebd, "id", "-u"])).trim(), "1000");
    await must("podman", ["stop", "-t", "30", intersebd]);
    const state = (await must("podman", ["inspect", intersebd, "--format", "{{.State.ExitCode}}"])).trim();
    assert.equal(state, "0", "SIGTERM ends the server cleanly (not killed after the grace period)");
    assert.match(await must("podman", ["logs", intersebd]), /SIGTERM, draining the capture queue/);
  });
});
