/**
 * The worked example's experiment: a prompt change is shadowed (the new prompt answers a copy of real requests,
 * judged against the live answer while nobody sees it), then split 50/50 by user with the users' own choices as
 * rewards, and promoted once a named person approves. Every step is the CLI command the README shows.
 *
 *   node_modules/.bin/node examples/title-generator/experiment.ts
 *
 * Offline, the fake upstream stands in for the model: it appends a `[[GOOD]]` marker found in the system prompt
 * to its answer, and the fake judge prefers the answer with it. The simulated users accept a title with the
 * marker 70 % of the time, one without 45 % of the time (a seeded draw, so the run is the same every time).
 */
import { execFile, spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { loadConfig, startServer } from "@intersebd/server";
import { eventually, startFakeUpstream } from "@intersebd/server/testing";

const here = import.meta.dirname;
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "intersebd-experiment-"));
const fake = await startFakeUpstream({ keepRequests: false });
const server = await startServer(
  loadConfig({ INTERSEBD_PORT: "0", INTERSEBD_UPSTREAM: fake.url, INTERSEBD_LOG_LEVEL: "warn" }, { dataDir }),
);
const env = { ...process.env, OPENAI_BASE_URL: `${server.url}/v1`, INTERSEBD_URL: server.url, PORT: "0" };

const service = spawn(process.execPath, [path.join(here, "service.ts")], {
  env,
  stdio: ["ignore", "pipe", "inherit"],
});
const serviceUrl = await new Promise<string>((resolve) => {
  service.stdout.on("data", (d: Buffer) => {
    const m = /on (http:\/\/\S+)/.exec(d.toString());
    if (m?.[1]) resolve(m[1]);
  });
});

const cli = path.resolve(here, "../../packages/server/src/cli/main.ts");
/** Runs `intersebd <args>` and prints it as a terminal would. */
async function intersebd(...args: string[]): Promise<string> {
  const r = await promisify(execFile)(process.execPath, [cli, ...args], { env });
  console.log(`\n$ intersebd ${args.join(" ")}\n${r.stdout.trimEnd()}`);
  return r.stdout;
}

async function post<T>(url: string, body: unknown): Promise<T> {
  const r = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  if (!r.ok) throw new Error(`${url}: ${r.status} ${await r.text()}`);
  return (await r.json()) as T;
}

/** mulberry32: a small seeded PRNG, so every run draws the same users' choices. */
function prng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const draw = prng(16);

/** One user asks for a title and accepts or rejects it; returns the title's text. */
async function userVisit(userId: string, n: number): Promise<string> {
  const doc = { documentId: `doc-${userId}-${n}`, text: `Notes ${n} on what ${userId} wrote`, userId };
  const { titleId, title } = await post<{ titleId: string; title: string }>(`${serviceUrl}/titles`, doc);
  const accepted = draw() < (title.includes("[[GOOD]]") ? 0.7 : 0.45);
  await post(`${serviceUrl}/titles/${titleId}/choice`, { userId, accepted });
  return title;
}

/** Runs `visits` in parallel batches, like users arriving at once. */
async function traffic(users: string[]): Promise<string[]> {
  const titles: string[] = [];
  for (let i = 0; i < users.length; i += 16) {
    titles.push(...(await Promise.all(users.slice(i, i + 16).map((u, j) => userVisit(u, i + j)))));
  }
  return titles;
}

// 1. The experiment starts in the shadow: users still get the current prompt's titles.
await intersebd("experiments", "create", "--file", path.join(here, "experiment.json"));
const shadowed = await traffic(Array.from({ length: 40 }, (_, i) => `early-${i}`));
console.log(
  `\n40 users got titles; ${shadowed.filter((t) => t.includes("[[GOOD]]")).length} came from the new prompt`,
);
// The shadow copies and their judgements arrive in the background.
await eventually(
  async () => {
    const r = await (await fetch(`${server.url}/api/experiments/titles/report`)).json();
    const punchy = (r as { variants: Array<{ name: string; pairwise: Array<{ n: number }> }> }).variants.find(
      (v) => v.name === "punchy",
    );
    return (punchy?.pairwise[0]?.n ?? 0) >= 40 ? true : undefined;
  },
  30_000,
  "40 judged shadow pairs",
);
await intersebd("experiments", "show", "titles");

// 2. The judge prefers the new prompt: split real users 50/50, their choices are the rewards.
await intersebd("experiments", "set", "titles", "--status", "running", "--by", "ana");
await traffic(Array.from({ length: 600 }, (_, i) => `user-${i}`));
// The service's SDK sends the users' choices in the background.
await eventually(
  async () => {
    const rep = (await (await fetch(`${server.url}/api/experiments/titles/report`)).json()) as {
      variants: Array<{ rewards: Array<{ n: number }> }>;
    };
    return rep.variants.reduce((s, v) => s + (v.rewards[0]?.n ?? 0), 0) >= 600 ? true : undefined;
  },
  30_000,
  "600 users' rewards",
);
const report = await intersebd("experiments", "show", "titles");

// 3. Promote the winner, with the name of the person who approved it.
if (/punchy is better than control/.test(report)) {
  await intersebd("experiments", "promote", "titles", "--variant", "punchy", "--approved-by", "carla");
  const after = await traffic(Array.from({ length: 20 }, (_, i) => `later-${i}`));
  const punchy = after.filter((t) => t.includes("[[GOOD]]")).length;
  console.log(`\nAfter the promotion, ${punchy} of 20 new users got the new prompt's titles`);
}

service.kill("SIGTERM");
await new Promise((r) => service.once("exit", r));
await server.close();
await fake.close();
fs.rmSync(dataDir, { recursive: true, force: true });
