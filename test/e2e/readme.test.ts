/**
 * The README's shell blocks, run as a new user pastes them into a terminal on a fresh clone.
 *
 * The test reads the blocks out of README.md (each marked by an HTML comment `<!-- tested: <name> ... -->` just
 * before it) instead of keeping them in a script the README copies: what people read and paste is the only copy,
 * so an edit to it is tested as it stands, and a block that loses its marker fails here instead of silently going
 * untested.
 *
 * As pasted:
 * - in a directory that is the clone after `npm install` (package.json, .npmrc, node_modules and packages/ linked
 *   from this repository: the suite runs after `npm install`, and running it again here would take minutes and the
 *   network), so the data the blocks write (`./.intersebd/`, the exported files) lands in a temporary directory;
 * - in bash with job control on (`set -m`), as a terminal's shell has it: `kill %1` stops a job's whole process
 *   group (npx and the node under it; killing npx's pid alone would leave the server running);
 * - with the environment of a new user: no `INTERSEBD_*`, `DATABASE_URL` or `NODE_OPTIONS`, and no
 *   `node_modules/.bin` on the PATH (npm test puts it there, which would hide a bare `intersebd` that a user's
 *   shell cannot find);
 * - on the ports the README names (8787, 9999), inside a private network namespace (`unshare -rn`) where nothing
 *   else listens, so neither another test nor a server the developer runs can clash. Without one, the test runs
 *   on the machine's loopback if both ports are free, and skips, saying why, if they are not.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";

const ROOT = path.resolve(import.meta.dirname, "../..");
const README = fs.readFileSync(path.join(ROOT, "README.md"), "utf8");
const PORTS = [8787, 9999];

/** The body of the first ```sh block after `<!-- tested: name`. */
function readmeBlock(name: string): string {
  const marker = README.indexOf(`<!-- tested: ${name}`);
  assert.ok(marker >= 0, `README.md has no block marked <!-- tested: ${name} -->`);
  const open = README.indexOf("```sh\n", marker);
  const close = README.indexOf("\n```", open + 6);
  assert.ok(open >= 0 && close > open, `README.md: no sh block after <!-- tested: ${name} -->`);
  return README.slice(open + 6, close + 1);
}

function has(command: string, ...args: string[]): boolean {
  return spawnSync(command, args, { stdio: "ignore" }).status === 0;
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

/** How the blocks get loopback ports 8787 and 9999 to themselves, or why they cannot. */
async function isolation(): Promise<{ netns: boolean } | { skip: string }> {
  if (!has("bash", "-c", "true") || !has("curl", "--version")) return { skip: "bash and curl are needed" };
  if (has("unshare", "-rn", "ip", "link", "set", "lo", "up")) return { netns: true };
  const free = await Promise.all(PORTS.map(portFree));
  if (free.every(Boolean)) return { netns: false };
  return {
    skip: `ports ${PORTS.join(" and ")} are in use and no private network namespace (unshare -rn) is available here: the README's blocks use those ports as written`,
  };
}

/** A new user's environment: see the header. */
function userEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^(INTERSEBD_|DATABASE_URL$|NODE_OPTIONS$|npm_)/i.test(k)) continue;
    env[k] = v;
  }
  env.PATH = (process.env.PATH ?? "")
    .split(path.delimiter)
    .filter((dir) => !dir.includes(`node_modules${path.sep}.bin`) && !dir.includes("node-gyp-bin"))
    .join(path.delimiter);
  return env;
}

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
  leftRunning: string[];
}

/**
 * Runs `script` in bash with job control, in `cwd`, in the network namespace when there is one, then waits up to
 * 15 s for what it started to stop (the server drains its queue first), and as long again for every process in
 * `cwd` to end. Whatever still runs there after that is killed and returned in `leftRunning`: a block must stop
 * what it starts (a server orphaned by killing npx's pid instead of its job keeps its port, and the next block
 * clashes with it).
 */
function runBash(script: string, cwd: string, netns: boolean): Run {
  const wrapped = [
    "set -m",
    "trap 'exit 143' TERM",
    "trap 'for p in $(jobs -p); do kill -9 -- -$p 2>/dev/null; done' EXIT",
    netns ? "ip link set lo up" : "",
    script,
    "for i in $(seq 150); do",
    '  [ -z "$(jobs -pr)" ] && ! curl -s -o /dev/null localhost:8787/healthz && ! curl -s -o /dev/null localhost:9999/v1/models && break',
    "  sleep 0.1",
    "done",
  ].join("\n");
  const [command, args] = netns ? ["unshare", ["-rn", "bash", "-c", wrapped]] : ["bash", ["-c", wrapped]];
  // Output to files, not pipes: a process the block leaves running would hold a pipe open, and spawnSync would
  // wait for it until its timeout.
  const out = fs.mkdtempSync(path.join(os.tmpdir(), "intersebd-readme-out-"));
  const stdout = fs.openSync(path.join(out, "stdout"), "w");
  const stderr = fs.openSync(path.join(out, "stderr"), "w");
  try {
    const r = spawnSync(command, args, {
      cwd,
      env: userEnv(),
      stdio: ["ignore", stdout, stderr],
      timeout: 180_000,
    });
    const read = (name: string) => fs.readFileSync(path.join(out, name), "utf8");
    return {
      status: r.status,
      stdout: read("stdout"),
      stderr: read("stderr"),
      leftRunning: killLeftovers(cwd, 15_000),
    };
  } finally {
    fs.closeSync(stdout);
    fs.closeSync(stderr);
    fs.rmSync(out, { recursive: true, force: true });
  }
}

/** The processes whose working directory is `dir`, by pid, with their command lines (Linux's /proc; elsewhere none). */
function processesIn(dir: string): Map<number, string> {
  const found = new Map<number, string>();
  if (!fs.existsSync("/proc/self/cwd")) return found;
  for (const pid of fs.readdirSync("/proc").filter((name) => /^\d+$/.test(name))) {
    try {
      if (fs.readlinkSync(`/proc/${pid}/cwd`) !== dir) continue;
      found.set(Number(pid), fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ").trim());
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return found;
}

/**
 * Waits up to `graceMs` for the processes in `dir` to end, then kills those still there and returns their command
 * lines. The wait matters: a job's leader (npx) can exit on SIGTERM while the server under it still drains its
 * queue, after its port has closed, so "no job, no port" in the block's own loop does not yet mean "stopped".
 */
function killLeftovers(dir: string, graceMs: number): string[] {
  const pause = new Int32Array(new SharedArrayBuffer(4));
  const deadline = Date.now() + graceMs;
  while (processesIn(dir).size > 0 && Date.now() < deadline) Atomics.wait(pause, 0, 0, 100);
  const left: string[] = [];
  for (const [pid, cmdline] of processesIn(dir)) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      continue; // ended meanwhile
    }
    // An empty command line is a process in the last moments of its exit (its memory already released).
    if (cmdline) left.push(cmdline);
  }
  return left;
}

const show = (r: Run) =>
  `exit ${r.status}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}\n--- left running\n${r.leftRunning.join("\n")}`;

/** Lines of stdout that are JSON objects starting with `prefix`, parsed. */
function jsonLines(out: string, prefix: string): unknown[] {
  return out
    .split("\n")
    .filter((line) => line.startsWith(prefix))
    .map((line) => JSON.parse(line));
}

describe("README blocks, pasted as written", async () => {
  const how = await isolation();
  if ("skip" in how) console.warn(`README blocks: SKIPPED: ${how.skip}`);
  const skip = "skip" in how ? how.skip : false;
  const netns = "netns" in how && how.netns;
  let clone = "";

  before(() => {
    // Real path: it is compared with the processes' working directories.
    clone = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), "intersebd-readme-")));
    for (const entry of ["package.json", ".npmrc", "node_modules", "packages", "examples"]) {
      fs.symlinkSync(path.join(ROOT, entry), path.join(clone, entry));
    }
  });
  after(() => fs.rmSync(clone, { recursive: true, force: true }));

  it("Quickstart: the fake upstream and the server start, the call is answered and stored, both stop", {
    skip,
  }, () => {
    const r = runBash(readmeBlock("quickstart"), clone, netns);
    const [completion] = jsonLines(r.stdout, '{"id":"chatcmpl') as {
      id: string;
      choices: { message: { content: string } }[];
    }[];
    assert.ok(completion, `no chat completion printed\n${show(r)}`);
    assert.equal(completion.choices[0]?.message.content, "echo: hello");
    const [calls] = jsonLines(r.stdout, '{"data":') as {
      data: { completionId: string; outcome: string }[];
    }[];
    assert.ok(calls, `GET /api/calls printed nothing\n${show(r)}`);
    assert.equal(
      calls.data[0]?.completionId,
      completion.id,
      `the stored call is the one answered\n${show(r)}`,
    );
    assert.equal(calls.data[0]?.outcome, "ok");
    assert.deepEqual(r.leftRunning, [], `the block must stop what it starts\n${show(r)}`);
    assert.doesNotMatch(r.stderr, /curl: \(|command not found|EADDRINUSE/, show(r));
  });

  it("Datasets and Evaluations: the export, datasets and eval commands run on a store with annotated calls", {
    skip:
      skip || (!has("script", "--version") && "`script` (util-linux) is needed to answer the eval's prompt"),
  }, () => {
    // Not from the README: a server on the fake upstream, with four calls in four sessions, two rewarded 1 and
    // one corrected (a preference pair), as a user's traffic would leave it. The eval runs in its own process on
    // the upstream of the environment, here the fake one.
    const seed = `
      export INTERSEBD_UPSTREAM=http://127.0.0.1:9999/v1
      npx intersebd fake-upstream --port 9999 >/dev/null &
      npx intersebd serve >/dev/null &
      curl -s --retry 30 --retry-connrefused --retry-delay 1 -o /dev/null -o /dev/null localhost:9999/v1/models localhost:8787/healthz
      for i in 1 2 3 4; do
        id=$(curl -sS localhost:8787/v1/chat/completions -H 'content-type: application/json' -H "x-intersebd-session-id: doc-$i" \\
          -d "{\\"model\\":\\"gpt-4o-mini\\",\\"messages\\":[{\\"role\\":\\"user\\",\\"content\\":\\"a title for document $i\\"}]}" \\
          | sed 's/^{"id":"\\([^"]*\\)".*/\\1/')
        correction=$([ $i = 2 ] && echo ',"correction":"A better title"')
        curl -sS -o /dev/null localhost:8787/api/annotations -H 'content-type: application/json' \\
          -d "{\\"annotationKey\\":\\"$id\\",\\"numericReward\\":$((i % 2))$correction}"
      done
      sleep 1
    `;
    // The eval asks before it spends: answered "y" on a terminal (script gives it one). Its second line resumes
    // the run the first one printed.
    const evalLines = readmeBlock("evals")
      .split("\n")
      .filter((line) => line.trim() !== "")
      .map((line) => line.replace("evl_…", "$run"));
    assert.equal(evalLines.length, 2, "the Evaluations block: an eval and a resume");
    const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
    const evals = evalLines
      .map(
        (line, i) =>
          `printf 'y\\n' | script -qec ${quote(line.replace(/\s+#.*$/, ""))} /dev/null | tee eval-${i}.out${i === 0 ? "; export run=$(grep -o 'evl_[0-9a-z]*' eval-0.out | head -1)" : ""}`,
      )
      .join("\n");
    // The resume line reaches script's shell with $run unexpanded (single quotes): it reads the exported one.
    const script = `${seed}\n${readmeBlock("datasets")}\n${evals}\nkill %1 %2\n`;
    const r = runBash(script, clone, netns);
    const out = `${r.stdout}\n${r.stderr}`;
    assert.doesNotMatch(out, /command not found|curl: \(|Error:/, show(r));
    const lines = (file: string) =>
      fs
        .readFileSync(path.join(clone, file), "utf8")
        .split("\n")
        .filter((l) => l !== "")
        .map((l) => JSON.parse(l) as Record<string, unknown>);
    // openai-sft where reward >= 1: calls 1 and 3, all in train or validation (the split is by session).
    assert.equal(lines("train.jsonl").length + lines("train.validation.jsonl").length, 2, show(r));
    assert.match(r.stderr + r.stdout, /openai-sft: 2 rows written/);
    // openai-dpo: call 2's correction preferred to its answer.
    assert.equal(lines("prefs.jsonl").length, 1, show(r));
    assert.match(out, /saved dataset titles/);
    // trl-kto from the dataset, through the server: every call with its label (and the correction).
    const kto = lines("kto.jsonl");
    assert.ok(kto.length >= 4 && kto.every((row) => typeof row.label === "boolean"), show(r));
    const run = /intersebd eval: run (evl_[0-9a-z]+)/.exec(out)?.[1];
    assert.ok(run, `the eval printed no run id\n${show(r)}`);
    assert.match(out, new RegExp(`evaluation ${run}: done, 4 done, 0 failed of 4 \\(dataset titles\\)`));
    assert.match(
      fs.readFileSync(path.join(clone, "eval-1.out"), "utf8"),
      new RegExp(`run ${run} is done`),
      show(r),
    );
    assert.deepEqual(r.leftRunning, [], show(r));
  });

  it("Three services: each prints its answer linked to its call, and the export has a row for each", {
    skip,
  }, () => {
    const r = runBash(readmeBlock("services"), clone, netns);
    assert.doesNotMatch(`${r.stdout}\n${r.stderr}`, /command not found|curl: \(|Error:/, show(r));
    const printed = jsonLines(r.stdout, '{"service":') as { service: string; reply: string; call: string }[];
    assert.deepEqual(
      printed.map((p) => p.service),
      ["ai-sdk", "anthropic", "otel"],
      show(r),
    );
    // The store holds the earlier blocks' calls too: each service's row is the one its annotation is in.
    const rows = fs
      .readFileSync(path.join(clone, "services.jsonl"), "utf8")
      .split("\n")
      .filter((l) => l !== "")
      .map((l) => JSON.parse(l) as { annotations: { annotationKey: string }[]; reward: number });
    for (const p of printed) {
      const mine = rows.filter((row) => row.annotations.some((a) => a.annotationKey === p.reply));
      assert.equal(mine.length, 1, `one exported row for ${p.service} (${p.call})\n${show(r)}`);
      assert.equal(mine[0]?.reward, 1);
    }
    assert.deepEqual(r.leftRunning, [], `the block must stop what it starts\n${show(r)}`);
  });
});
