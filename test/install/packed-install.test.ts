/**
 * The npm packages as a user gets them. `npm pack` packs the SDK (`intersebd`) and the server
 * (`@intersebd/server`); a project outside the repository installs the two tarballs and `openai` with a plain
 * `npm install`; and there, with nothing of the repository on the PATH or in NODE_OPTIONS:
 * - `npx @intersebd/server serve` starts the server (Node 24), against a fake upstream started by this test;
 *   with an older Node first on the PATH the same command says which Node it needs;
 * - the official `openai` client sends chat completions through it, and the SDK links, annotates, notifies and
 *   flushes, from an ES module (.mjs) and a CommonJS (.cjs) file, each on the machine's system Node and on the
 *   repository's Node 24;
 * - TypeScript (the repository's tsc) type-checks a file that uses the SDK under strict nodenext settings and under
 *   `tsc --init`'s defaults, both with skipLibCheck off, from an ES module and a CommonJS module;
 * - the API gives back each annotation, resolved through two links to its call, and the notification.
 * Slow (packing, installing): about half a minute with a warm npm cache. Skips, loudly, when the npm registry
 * cannot be reached.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it, type TestContext } from "node:test";
import {
  eventually,
  type FakeUpstream,
  startFakeUpstream,
  startupLine,
} from "../../packages/server/src/testing/index.ts";
import { announceSkip, describeRun, ROOT, registryUnreachable, run, userEnv } from "./support.ts";

// biome-ignore lint/suspicious/noExplicitAny: API bodies are read loosely in assertions
type Body = Record<string, any>;

const TSC = path.join(ROOT, "node_modules", ".bin", "tsc");
const MINUTE = 60_000;

/** The SDK used as a user's service would: one chat completion and one stream, then the four SDK verbs. */
function sdkScript(format: "esm" | "cjs"): string {
  const body = `
  const tag = process.argv[2];
  const openai = new OpenAI({ baseURL: process.env.INTERSEBD_URL + "/v1", apiKey: "sk-packed-install" });
  const messages = [{ role: "user", content: "A title for " + tag }];
  const r = await openai.chat.completions.create({ model: "gpt-4o-mini", messages });
  const stream = await openai.chat.completions.create({ model: "gpt-4o-mini", messages, stream: true });
  for await (const _chunk of stream) {}
  // The default instance, configured from INTERSEBD_URL.
  intersebd.link({ upstreamTag: r.id, downstreamTag: tag + "-reply" });
  intersebd.link({ upstreamTag: tag + "-reply", downstreamTag: tag + "-selection", metadata: { format: "${format}" } });
  intersebd.annotate({ annotationKey: tag + "-selection", numericReward: 1, comment: tag, data: { node: process.versions.node } });
  intersebd.notify({ completionId: r.id, sendNotificationTo: tag + "-reviewer", message: "Is this title good?" });
  await intersebd.flush();
  // Another instance, made with options.
  const errors = [];
  const other = new Intersebd({ baseURL: process.env.INTERSEBD_URL, onError: (e) => errors.push(e.code + ": " + e.message) });
  other.annotate({ annotationKey: r.id, name: "length-ok", numericReward: 0.5, source: "code" });
  await other.flush();
  console.log(JSON.stringify({ completionId: r.id, stats: intersebd.stats(), other: other.stats(), errors, isError: typeof IntersebdError }));
`;
  return format === "esm"
    ? `import OpenAI from "openai";\nimport { Intersebd, IntersebdError, intersebd } from "intersebd";\n${body}`
    : `"use strict";\nconst { OpenAI } = require("openai");\nconst { Intersebd, IntersebdError, intersebd } = require("intersebd");\n(async () => {${body}})().catch((err) => { console.error(err); process.exit(1); });\n`;
}

/** A TypeScript user's code: every export used with its types; `wrapOpenAI` takes the official client. */
const TYPED_USE = `
const sdk = new Intersebd({
  baseURL: "http://127.0.0.1:8787",
  maxRetries: 2,
  onError: (err: IntersebdError) => console.warn(err.code, err.status, err.field, err.count, err.message),
});
const input: AnnotateInput = { annotationKey: "reply-1", numericReward: 1, data: { clicked: true }, source: "user" };
sdk.annotate(input);
sdk.link({ upstreamTag: "chatcmpl-1", downstreamTag: "reply-1", metadata: { title: "x" } });
sdk.notify({ completionId: "chatcmpl-1", sendNotificationTo: "reviewer@example.com", expiresInSeconds: 3600 });
intersebd.enabled = false;
const stats: IntersebdStats = intersebd.stats();
const check: Check = defineCheck("short", ({ response }) => ({ pass: JSON.stringify(response).length < 1000 }));
const openai = wrapOpenAI(new OpenAI({ apiKey: "sk-x" }), { tags: ["titles"] });
async function main(): Promise<number> {
  await sdk.flush();
  await openai.chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }] });
  return stats.sent + check.name.length;
}
void main;
`;
const TYPED_ESM = `import OpenAI from "openai";
import { type AnnotateInput, type Check, defineCheck, Intersebd, type IntersebdError, type IntersebdStats, intersebd, wrapOpenAI } from "intersebd";
${TYPED_USE}`;
const TYPED_CJS = `import OpenAI = require("openai");
import sdkModule = require("intersebd");
const { defineCheck, Intersebd, intersebd, wrapOpenAI } = sdkModule;
type AnnotateInput = sdkModule.AnnotateInput;
type Check = sdkModule.Check;
type IntersebdError = sdkModule.IntersebdError;
type IntersebdStats = sdkModule.IntersebdStats;
${TYPED_USE.replace("new OpenAI(", "new OpenAI.OpenAI(")}`;

/** The machine's own `node` (the first on a user's PATH), when it is not the repository's. */
function systemNode(env: NodeJS.ProcessEnv): { bin: string; version: string } | undefined {
  const r = spawnSync("node", ["-p", "process.execPath + ' ' + process.version"], { env, encoding: "utf8" });
  if (r.status !== 0) return undefined;
  const [bin = "", version = ""] = r.stdout.trim().split(" ");
  return fs.realpathSync(bin) === fs.realpathSync(process.execPath) ? undefined : { bin, version };
}

/** A folder holding only a `node` link, to put one Node first on a PATH. */
function nodeDir(parent: string, name: string, bin: string): string {
  const dir = path.join(parent, name);
  fs.mkdirSync(dir, { recursive: true });
  fs.symlinkSync(bin, path.join(dir, "node"));
  return dir;
}

describe("packed npm packages, installed outside the repository", { timeout: 4 * MINUTE }, () => {
  let tmp: string;
  let project: string;
  let tarballs: { sdk: string; server: string };
  let skipReason: string | undefined;
  let fake: FakeUpstream;
  let server: ChildProcess | undefined;
  let base = "";
  let node24Path = "";
  let oldNode: { bin: string; version: string } | undefined;

  const pathWith = (dir: string) => `${dir}${path.delimiter}${userEnv().PATH}`;
  const skipped = (t: TestContext): boolean => {
    if (skipReason) t.skip(`npm registry unreachable: ${skipReason}`);
    return skipReason !== undefined;
  };

  before(async () => {
    tmp = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), "intersebd-packed-")));
    assert.ok(!tmp.startsWith(ROOT), "the project must live outside the repository");
    const packs = path.join(tmp, "packs");
    fs.mkdirSync(packs);
    // Packed from the repository, as `npm publish` would (prepack builds dist/, postpack removes it).
    for (const pkg of ["sdk", "server"] as const) {
      const r = await run("npm", ["pack", "--pack-destination", packs, "--loglevel", "warn"], {
        cwd: path.join(ROOT, "packages", pkg),
        env: process.env,
        timeoutMs: 2 * MINUTE,
      });
      assert.equal(r.code, 0, describeRun(`npm pack (packages/${pkg})`, r));
    }
    tarballs = {
      sdk: path.join(packs, "intersebd-0.1.0.tgz"),
      server: path.join(packs, "intersebd-server-0.1.0.tgz"),
    };

    project = path.join(tmp, "app");
    fs.mkdirSync(project);
    fs.writeFileSync(
      path.join(project, "package.json"),
      `${JSON.stringify({ name: "packed-install-check", version: "1.0.0", private: true }, null, 2)}\n`,
    );
    node24Path = pathWith(nodeDir(tmp, "node24", process.execPath));
    const install = await run(
      "npm",
      ["install", "--prefer-offline", "--no-audit", "--no-fund", tarballs.sdk, tarballs.server, "openai"],
      { cwd: project, env: userEnv({ PATH: node24Path }), timeoutMs: 3 * MINUTE },
    );
    if (install.code !== 0 && registryUnreachable(install.stdout + install.stderr)) {
      skipReason = install.stderr.trim().split("\n").slice(-3).join(" | ");
      announceSkip("Packed-install tests (npm pack, npm install outside the repository)", skipReason);
      return;
    }
    assert.equal(install.code, 0, describeRun("npm install of the tarballs", install));

    fake = await startFakeUpstream({ keepRequests: false });
    // The one command the README gives, in the user's project, with Node 24 first on the PATH.
    const child = spawn("npx", ["@intersebd/server", "serve", "--port", "0", "--upstream", fake.url], {
      cwd: project,
      env: userEnv({ PATH: node24Path, INTERSEBD_FLUSH_MS: "5" }),
      stdio: ["ignore", "pipe", "inherit"],
      detached: true,
    });
    server = child;
    base = (await startupLine(child)).base;
    oldNode = systemNode(userEnv());
  });

  after(async () => {
    if (server?.pid !== undefined && server.exitCode === null) {
      const exited = new Promise((resolve) => server?.on("exit", resolve));
      process.kill(-server.pid, "SIGTERM"); // npx and the server under it
      await exited;
    }
    await fake?.close();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it("packs what a user needs and nothing else, and leaves no build in the repository", async (t) => {
    if (skipped(t)) return;
    const list = (tgz: string) =>
      spawnSync("tar", ["-tzf", tgz], { encoding: "utf8" })
        .stdout.split("\n")
        .filter(Boolean)
        .map((f) => f.replace(/^package\//, ""));
    const sdk = list(tarballs.sdk);
    const server = list(tarballs.server);
    for (const f of [
      "package.json",
      "README.md",
      "dist/esm/index.js",
      "dist/esm/index.d.ts",
      "dist/cjs/index.js",
    ])
      assert.ok(sdk.includes(f), `the SDK tarball has ${f}`);
    for (const f of ["bin/intersebd.js", "dist/cli/main.js", "dist/index.d.ts", "webapp/index.html"])
      assert.ok(server.includes(f), `the server tarball has ${f}`);
    assert.ok(
      server.some(
        (f) => f.startsWith("dist/fake-upstream/fixtures/openai-chat-streams/") && f.endsWith(".sse"),
      ),
      "the fake upstream's recorded streams",
    );
    assert.ok(
      server.some((f) => f.startsWith("webapp/assets/")),
      "the web app's assets",
    );
    for (const f of [...sdk, ...server]) {
      assert.doesNotMatch(f, /(^|\/)(src|test|tests|bench)\//, `${f} is not for users`);
      assert.doesNotMatch(f, /\.test\.|\.bench\.|\.ts$(?<!\.d\.ts)|\.map$/, `${f} is not for users`);
    }
    // Nothing runs from dist/ in the repository: postpack removed it.
    for (const pkg of ["sdk", "server"])
      assert.ok(!fs.existsSync(path.join(ROOT, "packages", pkg, "dist")), `packages/${pkg}/dist is left`);
  });

  it("serves the web app from the package", async (t) => {
    if (skipped(t)) return;
    const page = await fetch(`${base}/calls`);
    assert.equal(page.status, 200);
    const html = await page.text();
    const script = /src="(\/assets\/[^"]+\.js)"/.exec(html)?.[1];
    assert.ok(script, `the app's page names its script: ${html.slice(0, 300)}`);
    assert.equal((await fetch(`${base}${script}`)).status, 200);
  });

  it("`npx @intersebd/server serve` on a Node older than 22.13 says which Node it needs", async (t) => {
    if (skipped(t)) return;
    if (!oldNode || Number(oldNode.version.slice(1).split(".")[0]) >= 22) {
      t.skip(`no system Node older than 22 here (${oldNode?.version ?? "only the repository's"})`);
      return;
    }
    const r = await run("npx", ["@intersebd/server", "serve", "--port", "0"], {
      cwd: project,
      env: userEnv({ PATH: pathWith(nodeDir(tmp, "old-node", oldNode.bin)) }),
      timeoutMs: MINUTE,
    });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /intersebd needs Node\.js >= 22\.13 \(this is 2\d\./);
  });

  for (const format of ["esm", "cjs"] as const) {
    for (const which of ["system", "24"] as const) {
      it(`the SDK and the openai client from ${format === "esm" ? "an ES module" : "CommonJS"} on ${which === "24" ? "Node 24" : "the system Node"}: the annotation resolves to the call`, async (t) => {
        if (skipped(t)) return;
        let nodeBin = process.execPath;
        if (which === "system") {
          if (!oldNode) {
            announceSkip(
              `SDK on the system Node (${format})`,
              "no system node on the PATH besides the repository's",
            );
            t.skip("no system node on the PATH besides the repository's");
            return;
          }
          nodeBin = oldNode.bin;
        }
        const file = path.join(project, `use-${format}-${which}.${format === "esm" ? "mjs" : "cjs"}`);
        fs.writeFileSync(file, sdkScript(format));
        const tag = `packed-${format}-${which}-${Date.now()}`;
        const r = await run(nodeBin, [file, tag], {
          cwd: project,
          env: userEnv({ INTERSEBD_URL: base }),
          timeoutMs: MINUTE,
        });
        assert.equal(r.code, 0, describeRun(path.basename(file), r));
        const out = JSON.parse(r.stdout.trim().split("\n").at(-1) ?? "{}") as Body;
        assert.deepEqual(out.stats, { queued: 0, sent: 4, dropped: 0, failed: 0 }, r.stderr);
        assert.deepEqual(out.other, { queued: 0, sent: 1, dropped: 0, failed: 0 });
        assert.deepEqual(out.errors, []);
        assert.equal(out.isError, "function");

        // The call is written behind the proxy's answer; the annotation resolves to it through two links.
        const call = await eventually(
          async () => {
            const res = await fetch(`${base}/api/calls/${encodeURIComponent(out.completionId)}`);
            const body = (await res.json()) as Body;
            return res.status === 200 && body.annotations?.length >= 2 ? body : undefined;
          },
          10_000,
          `the annotations of ${out.completionId}`,
        );
        const reward = call.annotations.find((a: Body) => a.comment === tag);
        assert.ok(reward, JSON.stringify(call.annotations));
        assert.equal(reward.numericReward, 1);
        assert.equal(reward.annotationKey, `${tag}-selection`);
        const own = call.annotations.find((a: Body) => a.name === "length-ok");
        assert.equal(own?.numericReward, 0.5);
        assert.ok(
          call.notifications.some((n: Body) => n.recipient === `${tag}-reviewer`),
          JSON.stringify(call.notifications),
        );
      });
    }
  }

  it("the SDK's types check under strict nodenext and under `tsc --init`, skipLibCheck off, ESM and CommonJS", async (t) => {
    if (skipped(t)) return;
    const checks = path.join(project, "typecheck");
    fs.mkdirSync(checks);
    fs.writeFileSync(path.join(checks, "use.mts"), TYPED_ESM);
    fs.writeFileSync(path.join(checks, "use.cts"), TYPED_CJS);
    fs.writeFileSync(
      path.join(checks, "tsconfig.strict.json"),
      JSON.stringify({
        compilerOptions: {
          strict: true,
          module: "nodenext",
          moduleResolution: "nodenext",
          target: "es2022",
          skipLibCheck: false,
          noEmit: true,
          types: [],
        },
        files: ["use.mts", "use.cts"],
      }),
    );
    const env = userEnv({ PATH: node24Path });
    const strict = await run(TSC, ["-p", "tsconfig.strict.json"], { cwd: checks, env, timeoutMs: MINUTE });
    assert.equal(strict.code, 0, describeRun("tsc (strict, nodenext, skipLibCheck false)", strict));

    // `tsc --init`'s defaults (exactOptionalPropertyTypes, noUncheckedIndexedAccess, verbatimModuleSyntax...).
    const initDir = path.join(checks, "init");
    fs.mkdirSync(initDir);
    const init = await run(TSC, ["--init"], { cwd: initDir, env, timeoutMs: MINUTE });
    assert.equal(init.code, 0, describeRun("tsc --init", init));
    fs.copyFileSync(path.join(checks, "use.mts"), path.join(initDir, "use.mts"));
    fs.copyFileSync(path.join(checks, "use.cts"), path.join(initDir, "use.cts"));
    const defaults = await run(TSC, ["-p", ".", "--noEmit", "--skipLibCheck", "false"], {
      cwd: initDir,
      env,
      timeoutMs: MINUTE,
    });
    assert.equal(defaults.code, 0, describeRun("tsc (tsc --init defaults, skipLibCheck false)", defaults));
  });
});
