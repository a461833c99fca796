/**
 * Runs the whole worked example on one machine and prints what intersebd resolved for each LLM call:
 * a fake OpenAI-compatible upstream, an intersebd server, the title service (a separate process, using the
 * TypeScript SDK), user choices, then the Python publishing job (another process, using the Python SDK).
 *
 *   node_modules/.bin/node examples/title-generator/drive.ts
 */
import { execFile, spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { loadConfig, startServer } from "@intersebd/server";
import { eventually, startFakeUpstream } from "@intersebd/server/testing";

const here = import.meta.dirname;
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "intersebd-example-"));
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

async function post<T>(url: string, body: unknown): Promise<T> {
  const r = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  return (await r.json()) as T;
}

const documents = [
  { documentId: "doc-1", text: "Quarterly report on proxy latency" },
  { documentId: "doc-2", text: "How we cut our LLM bill in half" },
  { documentId: "doc-3", text: "Notes from the annotation offsite" },
];
// What each user does with the proposed title: accept it, edit it, or reject it.
const choices = [
  { userId: "ana", accepted: true },
  { userId: "ben", accepted: true, editedTitle: "Halving our LLM bill" },
  { userId: "chloe", accepted: false },
];

const published: string[] = [];
for (const [i, doc] of documents.entries()) {
  const { titleId, title } = await post<{ titleId: string; title: string }>(`${serviceUrl}/titles`, doc);
  const { selectionId } = await post<{ selectionId: string }>(
    `${serviceUrl}/titles/${titleId}/choice`,
    choices[i],
  );
  console.log(
    `${doc.documentId}: proposed "${title}" → ${choices[i]?.accepted ? "accepted" : "rejected"}${choices[i]?.editedTitle ? " with an edit" : ""}`,
  );
  if (choices[i]?.accepted) published.push(`${selectionId}=${(0.05 * (i + 1)).toFixed(2)}`);
}

// Asynchronously: the intersebd server runs in this process and must keep answering the job's SDK.
const py = await promisify(execFile)("python3", [path.join(here, "publish.py"), ...published], {
  env: { ...env, PYTHONPATH: path.resolve(here, "../../packages/python") },
});
process.stdout.write(py.stdout);

// The service's SDK flushes in the background; wait until every judgement has arrived.
service.kill("SIGTERM");
const expected = choices.length + published.length;
const calls = await eventually(
  async () => {
    const r = (await (await fetch(`${server.url}/api/calls?limit=100`)).json()) as {
      data: Array<{ completionId: string; annotationCount: number }>;
    };
    const total = r.data.reduce((n, c) => n + c.annotationCount, 0);
    return total >= expected ? r.data : undefined;
  },
  15_000,
  `${expected} annotations`,
);

console.log("\nWhat intersebd resolved for each LLM call:");
for (const c of [...calls].reverse()) {
  const detail = (await (await fetch(`${server.url}/api/calls/${c.completionId}`)).json()) as {
    sessionId: string;
    annotations: Array<{
      name: string;
      numericReward: number | null;
      source: string;
      annotatorId: string | null;
      path: string[];
      correction: unknown;
    }>;
  };
  console.log(`\n${c.completionId} (session ${detail.sessionId})`);
  for (const a of detail.annotations) {
    const who = a.annotatorId ? ` by ${a.annotatorId}` : "";
    const fix = a.correction ? `, correction ${JSON.stringify(a.correction)}` : "";
    console.log(`  ${a.name} = ${a.numericReward} (${a.source}${who}${fix})`);
    console.log(`    via ${a.path.join(" → ")}`);
  }
}
const inbox = (await (await fetch(`${server.url}/api/notifications?recipient=editor`)).json()) as {
  data?: Array<{ url: string }>;
};
if (inbox.data?.length) console.log(`\nThe editor was notified: ${inbox.data.map((n) => n.url).join(", ")}`);

// From judged calls to training sets: every row below passed the format's validator (rejects are counted).
console.log("\nTraining sets from these judgements:");
for (const format of ["openai-sft", "openai-dpo", "trl-kto"]) {
  const report = (await (await fetch(`${server.url}/api/export?format=${format}&report=1`)).json()) as {
    written: { total: number };
    bySource: Record<string, number>;
    droppedTotal: number;
  };
  const sources = Object.entries(report.bySource)
    .map(([k, n]) => `${n} from ${k}`)
    .join(", ");
  console.log(`  ${format}: ${report.written.total} rows (${sources}), ${report.droppedTotal} dropped`);
}

// ...and a benchmark: a saved dataset, replayed against a second model, judged against the logged answers.
await post(`${server.url}/api/datasets`, { name: "titles", filter: {} });
const cli = path.resolve(here, "../../packages/server/src/cli/main.ts");
const evalArgs = ["eval", "--server", server.url, "--dataset", "titles", "--candidate", "model=gpt-4.1-mini"];
evalArgs.push("--check", "regex:^echo:", "--judge", "pairwise:fake-judge", "--yes");
const evaluation = await promisify(execFile)(process.execPath, [cli, ...evalArgs], { env });
console.log(`\n$ intersebd ${evalArgs.join(" ")}\n${evaluation.stdout}`);

await server.close();
await fake.close();
fs.rmSync(dataDir, { recursive: true, force: true });
