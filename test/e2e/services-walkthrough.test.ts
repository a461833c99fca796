/**
 * Issue 19's "Done when", walked as README "Three services, end to end" walks it: a service on the AI SDK's
 * defaults, one on Anthropic's SDK and one sending OpenTelemetry spans (examples/services/), each run as its own
 * process against a server whose upstreams are the fake one, show their calls (REST, and in Chromium the calls
 * list and each call's page), lead from their own ids to those calls through the links they made, carry the
 * annotations they gave, and come out of `intersebd export`. Both stores. The README's block itself, pasted as
 * written, runs in readme.test.ts.
 */
// biome-ignore-all lint/performance/useDomNodeTextContent: Playwright's Locator.innerText (rendered text), not the DOM property
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import type { CallDetailResponse, CallView } from "@intersebd/server/api-types";
import {
  DIALECTS,
  eventually,
  type FakeUpstream,
  postgresAvailable,
  startFakeUpstream,
  startTestServer,
  type TestServer,
} from "@intersebd/server/testing";
import { browserSkipReason, launchBrowser, waitForCount } from "./web-support.ts";

const ROOT = path.resolve(import.meta.dirname, "../..");
const CLI = path.join(ROOT, "packages/server/bin/intersebd.js");
const run = promisify(execFile);

/** What each service sends, and how its call is stored and tagged. */
const SERVICES = [
  { name: "ai-sdk", protocol: "responses", badge: "Responses", question: "Name three rivers", tag: /^resp_/ },
  { name: "anthropic", protocol: "messages", badge: "Messages", question: "Name three peaks", tag: /^msg_/ },
  { name: "otel", protocol: "otlp", badge: "OTLP", question: "Name three lakes", tag: /^[0-9a-f]{32}$/ },
] as const;

/** The line a service prints: its answer's id, the tag it linked the answer to, and the call's page in the app. */
interface Printed {
  service: string;
  reply: string;
  call: string;
  span?: string;
  page: string;
}

/** `GET /api/calls/{id}`, its chat-shaped bodies read as far as the tests look into them. */
type Call = Omit<CallDetailResponse, "request" | "response"> & {
  request: { messages: Array<{ role: string; content: unknown }> } | null;
  response: { choices: Array<{ message: { content: unknown } }> } | null;
};

interface TagDetail {
  calls: Array<CallView & { path: string[] }>;
}

interface ExportRow {
  messages: Array<{ role: string; content: unknown }>;
  completion: Array<{ role: string; content: unknown }>;
  reward: number;
  annotations: Array<{ annotationKey: string; numericReward: number | null }>;
  metadata: { callIds: string[] };
}

/** A chat message's text: its string content, or its text parts joined. */
function textOf(content: unknown): string | undefined {
  if (typeof content === "string") return content;
  if (!Array.isArray(content)) return undefined;
  return content
    .map((part: { type?: string; text?: string }) => (part.type === "text" ? part.text : ""))
    .join("");
}

for (const dialect of DIALECTS) {
  describe(`three services through the README's steps (${dialect})`, async () => {
    const skip =
      dialect === "postgres" && !(await postgresAvailable())
        ? "PostgreSQL unreachable: this suite did NOT run on postgres"
        : false;
    let fake: FakeUpstream;
    let server: TestServer;
    /** Each service's printed line, by service name, and its stored call's id. */
    const ran = new Map<string, Printed & { callId: string }>();

    before(async () => {
      if (skip) return;
      fake = await startFakeUpstream();
      // As the README starts it: the fake answers both the OpenAI paths and Anthropic's /v1/messages.
      server = await startTestServer(dialect, {
        upstream: fake.url,
        env: { INTERSEBD_UPSTREAMS: `anthropic=${fake.url}` },
      });
      for (const service of SERVICES) {
        const { stdout } = await run(
          process.execPath,
          [path.join(ROOT, "examples/services", `${service.name}.ts`), service.question],
          {
            cwd: ROOT,
            timeout: 60_000,
            env: {
              ...process.env,
              NODE_OPTIONS: "--conditions=intersebd-source",
              INTERSEBD_URL: server.url,
              OPENAI_BASE_URL: fake.url, // the OTel service calls its provider directly
              OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${server.url}/v1/traces`,
            },
          },
        );
        const printed = JSON.parse(stdout.trim().split("\n").at(-1) ?? "") as Printed;
        // The call arrives from the proxy's queue, or for the span through the exporter: wait until stored.
        const callId = await eventually(
          async () => {
            const r = await server.api<{ data: CallView[] }>(`/api/calls?tag=${printed.call}`);
            return r.body.data.length === 1 ? r.body.data[0]?.id : undefined;
          },
          10_000,
          `the ${service.name} service's call tagged ${printed.call}`,
        );
        ran.set(service.name, { ...printed, callId });
      }
    });
    after(async () => {
      await server?.stop();
      await fake?.close();
    });

    for (const service of SERVICES) {
      it(`${service.name}: the call is stored as ${service.protocol}, the answer's id leads to it, and its annotation is on it`, {
        skip,
      }, async () => {
        const printed = ran.get(service.name);
        assert.ok(printed, `${service.name} printed nothing`);
        assert.equal(printed.service, service.name);
        assert.match(printed.call, service.tag);
        assert.match(printed.reply, /^answer_/);

        const detail = await server.api<Call>(`/api/calls/${printed.callId}`);
        assert.equal(detail.status, 200);
        const call = detail.body;
        assert.equal(call.protocol, service.protocol);
        assert.equal(call.outcome, "ok");
        assert.equal(call.conversionError, null);
        // In the chat shape: the AI SDK's input item becomes a user message of text parts, the others a string.
        const asked = call.request?.messages.at(-1);
        assert.equal(asked?.role, "user");
        assert.equal(textOf(asked?.content), service.question);
        assert.equal(call.response?.choices[0]?.message.content, `echo: ${service.question}`);
        if (service.name === "otel") assert.deepEqual(call.tags, [printed.call, printed.span]);

        // The service's own id resolves to the call, through the one link it made.
        const tag = await server.api<TagDetail>(`/api/tags/${printed.reply}`);
        assert.deepEqual(
          tag.body.calls.map((c) => [c.id, c.path]),
          [[printed.callId, [printed.call, printed.reply]]],
        );

        const ann = call.annotations.filter((a) => a.annotationKey === printed.reply);
        assert.equal(ann.length, 1, JSON.stringify(call.annotations));
        assert.equal(ann[0]?.numericReward, 1);
        assert.equal(ann[0]?.source, "user");
        assert.equal(ann[0]?.comment, "helpful");
        assert.deepEqual(ann[0]?.path, [printed.call, printed.reply]);

        // The page the service printed is the call's.
        const page = new URL(printed.page);
        assert.equal(page.origin, server.url);
        const opened = await server.api<CallDetailResponse>(`/api${page.pathname}`);
        assert.equal(opened.body.id, printed.callId);
      });
    }

    it("intersebd export writes one row per service's call, with its question, answer and reward", {
      skip,
    }, async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "intersebd-services-"));
      try {
        const out = path.join(dir, "services.jsonl");
        const db = server.config.db.kind === "sqlite" ? server.config.db.file : server.config.db.url;
        await run(
          process.execPath,
          [CLI, "export", "--db", db, "--format", "rewards", "--where", "reward >= 1", "--out", out],
          { cwd: dir, timeout: 60_000 },
        );
        const rows = fs
          .readFileSync(out, "utf8")
          .split("\n")
          .filter((l) => l !== "")
          .map((l) => JSON.parse(l) as ExportRow);
        assert.equal(rows.length, SERVICES.length);
        for (const service of SERVICES) {
          const printed = ran.get(service.name);
          const row = rows.find((r) => r.metadata.callIds.includes(printed?.callId ?? "?"));
          assert.ok(row, `no row for the ${service.name} service's call`);
          assert.equal(row.reward, 1);
          assert.deepEqual(
            row.annotations.map((a) => a.annotationKey),
            [printed?.reply],
          );
          assert.match(JSON.stringify(row.messages), new RegExp(service.question));
          assert.deepEqual(row.completion, [{ role: "assistant", content: `echo: ${service.question}` }]);
        }
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });

    it("in Chromium: the calls list marks each call's protocol, and each printed page shows its annotation", {
      skip: skip || browserSkipReason(),
    }, async () => {
      const browser = await launchBrowser();
      try {
        const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
        await page.goto(`${server.url}/`);
        await waitForCount(page, "[data-testid=calls-table] tbody tr", SERVICES.length);
        for (const service of SERVICES) {
          const printed = ran.get(service.name);
          const row = page.locator(`tr[data-call-id="${printed?.callId}"]`);
          assert.match(await row.innerText(), new RegExp(service.question));
          const badge = row.locator("[data-protocol]");
          assert.equal(await badge.getAttribute("data-protocol"), service.protocol);
          assert.equal(await badge.innerText(), service.badge);
        }
        for (const service of SERVICES) {
          const printed = ran.get(service.name);
          await page.goto(printed?.page ?? "");
          const ann = page.locator(".annotation[data-source=user]");
          await ann.waitFor({ timeout: 10_000 });
          const text = await ann.innerText();
          assert.match(text, /helpful/);
          assert.ok(text.includes(`via ${printed?.call} → ${printed?.reply}`), text);
          assert.match(
            await page.getByTestId("facts").innerText(),
            new RegExp(`Protocol\\s+${service.badge}`),
          );
        }
      } finally {
        await browser.close();
      }
    });
  });
}
