/**
 * Fuzz test (issue 12): a few thousand seeded requests over every route of the running app, the proxy and the
 * app's pages, on SQLite and PostgreSQL. It fails on any 5xx that did not come from an upstream, any connection
 * reset or socket error, any request left unanswered for 10 s, an exception that would have ended the process,
 * a server that is dead or cannot read its own data afterwards, and (with an API key set) any protected route
 * that answers without the key.
 *
 * Replay: the seed is printed with the failures; `INTERSEBD_FUZZ_SEED=<seed>` runs the same requests again and
 * `INTERSEBD_FUZZ_RUNS=<n>` sends more (or fewer). `INTERSEBD_TEST_LOG=debug` shows the server's log.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import http from "node:http";
import net from "node:net";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import type { Hono } from "hono";
import {
  DIALECTS,
  type Dialect,
  type FakeUpstream,
  postgresAvailable,
  startFakeUpstream,
  startTestServer,
  type TestServer,
} from "../../packages/server/src/testing/index.ts";
import { type FuzzRequest, type FuzzWorld, fuzzRequests, type Route } from "./fuzz-inputs.ts";

const SEED = Number(process.env.INTERSEBD_FUZZ_SEED ?? 12);
const RUNS = Number(process.env.INTERSEBD_FUZZ_RUNS ?? 2000);
/** The pass with an API key set is shorter: the routes behind the key are the same. */
const KEYED_RUNS = Math.ceil(RUNS / 4);
const CONCURRENCY = 6;
const ANSWER_WITHIN_MS = 10_000;
const API_KEY = "fuzz-key-0123456789";
const MAX_BODY_BYTES = 1_000_000;
const METHODS = new Set(["GET", "POST", "PUT", "PATCH", "DELETE"]);

interface Outcome {
  status?: number;
  headers?: http.IncomingHttpHeaders;
  body: string;
  error?: string;
  timedOut?: boolean;
  /** The request answered before on the same kept-alive connection, when this one reused it. */
  previous?: { r: FuzzRequest; status?: number };
  /** The client library refused to send the request (a generator bug, not the server's). */
  unsendable?: boolean;
  start: number;
  end: number;
}

interface Failure {
  reason: string;
  request: FuzzRequest;
  outcome?: Outcome;
  serverLog: string[];
}

/**
 * The last request sent on each kept-alive connection, and its status: a connection the server ends after one
 * answer fails the next request on it, and the failure must name the request that caused it.
 */
const unsendableExamples: string[] = [];
const lastOnSocket = new WeakMap<object, { r: FuzzRequest; status?: number }>();

/** Sends one request as raw `node:http` (no URL normalisation, no encoding), reading the whole answer. */
function send(base: URL, agent: http.Agent, r: FuzzRequest): Promise<Outcome> {
  const start = Date.now();
  return new Promise((resolve) => {
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    const done = (o: Omit<Outcome, "start" | "end">) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ ...o, start, end: Date.now() });
    };
    let req: http.ClientRequest;
    try {
      req = http.request({
        host: base.hostname,
        port: base.port,
        method: r.method,
        path: r.path,
        agent,
        headers: {
          ...r.headers,
          ...(r.body === undefined ? {} : { "content-length": Buffer.byteLength(r.body) }),
        },
      });
    } catch (err) {
      done({ body: "", error: String(err), unsendable: true });
      unsendableExamples.push(`${r.method} ${excerpt(r.path, 80)}: ${String(err)}`);
      return;
    }
    timer = setTimeout(() => {
      done({ body: "", error: `no answer within ${ANSWER_WITHIN_MS} ms`, timedOut: true });
      req.destroy();
    }, ANSWER_WITHIN_MS);
    const mine: { r: FuzzRequest; status?: number } = { r };
    let previous: { r: FuzzRequest; status?: number } | undefined;
    req.on("socket", (socket) => {
      previous = lastOnSocket.get(socket);
      lastOnSocket.set(socket, mine);
    });
    req.on("response", (res) => {
      mine.status = res.statusCode;
      const chunks: Buffer[] = [];
      let size = 0;
      res.on("data", (c: Buffer) => {
        if (size < 8192) chunks.push(c);
        size += c.length;
      });
      const body = () => Buffer.concat(chunks).toString("utf8");
      res.on("end", () => done({ status: res.statusCode, headers: res.headers, body: body() }));
      res.on("error", (err) =>
        done({
          status: res.statusCode,
          headers: res.headers,
          body: body(),
          error: `answer cut: ${err.message}`,
        }),
      );
      res.on("aborted", () =>
        done({ status: res.statusCode, headers: res.headers, body: body(), error: "answer cut (aborted)" }),
      );
    });
    req.on("error", (err: NodeJS.ErrnoException) =>
      done({
        body: "",
        error: `${err.code ?? "error"}: ${err.message}`,
        previous: req.reusedSocket ? previous : undefined,
      }),
    );
    req.end(r.body);
  });
}

/** Paths the API key guards (annotation links carry their own credential, the token). */
function isProtected(r: FuzzRequest): boolean {
  if (r.target.startsWith("proxy")) return r.proxied === true;
  const p = r.path.split("?")[0] ?? "";
  if (p === "/metrics") return true;
  return p.startsWith("/api/") && !p.startsWith("/api/a/");
}

/** Why this answer is a failure, or undefined when it is fine. */
function judge(w: FuzzWorld, r: FuzzRequest, o: Outcome): string | undefined {
  if (o.unsendable) return undefined;
  if (o.timedOut) return o.error;
  // The fake upstream cut the stream: the proxy can only cut the client's connection as well.
  if (o.error && !(r.proxied && r.upstreamDisconnects)) return `connection: ${o.error}`;
  const status = o.status ?? 0;
  if (status >= 500) {
    const fromUpstream = r.proxied && (status === r.upstreamStatus || [502, 503, 504].includes(status));
    if (!fromUpstream) return `status ${status}`;
  }
  if (w.apiKey && status < 300 && status > 0 && r.method !== "OPTIONS" && isProtected(r)) {
    const key = r.headers["x-intersebd-key"] ?? r.headers.authorization?.replace(/^Bearer\s+/i, "");
    if (key !== w.apiKey) return `status ${status} without the API key`;
  }
  return undefined;
}

const excerpt = (s: string | undefined, n = 240) =>
  s === undefined
    ? "(none)"
    : JSON.stringify(s.length > n ? `${s.slice(0, n)}…(${s.length} chars)` : s).slice(1, -1);

/** One readable report: failures grouped by target and reason, the first example of each. */
function report(failures: Failure[], seed: number, runs: number, label: string): string {
  const groups = new Map<string, Failure[]>();
  for (const f of failures) {
    const key = `${f.request.target} → ${f.reason.replace(/\d{3,} ms/, "N ms")}`;
    groups.set(key, [...(groups.get(key) ?? []), f]);
  }
  const lines = [
    `${failures.length} failure(s) in ${groups.size} group(s), ${label}; replay with INTERSEBD_FUZZ_SEED=${seed} INTERSEBD_FUZZ_RUNS=${runs}`,
  ];
  for (const [key, fs] of [...groups].slice(0, 20)) {
    const f = fs[0] as Failure;
    lines.push(
      "",
      `• ${key}  (×${fs.length})`,
      `  request: ${f.request.method} ${excerpt(f.request.path, 160)}`,
      `  headers: ${excerpt(JSON.stringify(f.request.headers), 200)}`,
      `  body:    ${excerpt(f.request.body, 200)}`,
      `  answer:  ${excerpt(f.outcome?.body, 240)}`,
      ...f.serverLog.slice(0, 2).map((l) => `  log:     ${excerpt(l, 400)}`),
    );
  }
  if (groups.size > 20) lines.push("", `…and ${groups.size - 20} more group(s)`);
  return lines.join("\n");
}

/** What the server logged at warn and error, with when, so a failure can show the lines it caused. */
function captureLog(s: TestServer): Array<{ at: number; line: string }> {
  const lines: Array<{ at: number; line: string }> = [];
  const log = s.ctx.log;
  for (const level of ["error", "warn"] as const) {
    const write = log[level].bind(log);
    log[level] = (msg: string) => {
      lines.push({ at: Date.now(), line: `${level} ${msg}` });
      write(msg);
    };
  }
  return lines;
}

interface Setup {
  server: TestServer;
  world: FuzzWorld;
  log: Array<{ at: number; line: string }>;
  headers: Record<string, string>;
}

/** A server with two fake upstreams (default and `alt`), its routes, and a few of everything to refer to. */
async function setUp(dialect: Dialect, fakes: FakeUpstream[], apiKey?: string): Promise<Setup> {
  let root: Hono | undefined;
  const [fake, alt] = fakes as [FakeUpstream, FakeUpstream];
  const server = await startTestServer(dialect, {
    upstream: fake.url,
    env: {
      INTERSEBD_UPSTREAMS: `alt=${alt.url}`,
      INTERSEBD_UPSTREAM_TIMEOUT_MS: "1500",
      INTERSEBD_MAX_BODY_BYTES: String(MAX_BODY_BYTES),
      ...(apiKey ? { INTERSEBD_API_KEY: apiKey } : {}),
    },
    mounts: [
      (_api, _ctx, app) => {
        root = app;
      },
    ],
  });
  const log = captureLog(server);
  const headers: Record<string, string> = apiKey ? { "x-intersebd-key": apiKey } : {};
  const api = async <T = Record<string, unknown>>(p: string, body?: unknown, method?: string) => {
    const r = await server.api<T>(p, { body, method, headers });
    assert.ok(
      r.status < 300,
      `setting up: ${method ?? (body ? "POST" : "GET")} ${p} → ${r.status} ${JSON.stringify(r.body)}`,
    );
    return r.body;
  };

  // Hono lists every route of the app once it is built, the mounted groups' included.
  assert.ok(root, "the capturing mount was not called");
  const seen = new Set<string>();
  const routes: Route[] = [];
  for (const r of root.routes) {
    const key = `${r.method} ${r.path}`;
    if (!METHODS.has(r.method) || seen.has(key)) continue;
    seen.add(key);
    routes.push({ method: r.method, path: r.path });
  }
  for (const must of ["GET /api/calls", "POST /api/links", "POST /api/annotations", "GET /api/a/:token"])
    assert.ok(seen.has(must), `the app's routes should include ${must}: ${[...seen].join(", ")}`);

  // A few of everything, so that fuzzed requests also hit things that exist.
  const callIds: string[] = [];
  const completionIds: string[] = [];
  for (const [i, stream] of [false, true, false].entries()) {
    const res = await fetch(`${server.url}${i === 2 ? "/alt" : ""}/v1/chat/completions`, {
      method: "POST",
      headers: {
        ...headers,
        "content-type": "application/json",
        "x-intersebd-session-id": "fuzz-session",
        "x-intersebd-user-id": "fuzz-user",
        "x-intersebd-tags": `fuzz-tag-${i}`,
        "x-intersebd-metadata": JSON.stringify({ promptVersion: `v${i}` }),
      },
      body: JSON.stringify({
        model: "fake-model",
        messages: [{ role: "user", content: `hello ${i}` }],
        stream,
      }),
    });
    const text = await res.text();
    assert.equal(res.status, 200, text);
    callIds.push(res.headers.get("x-intersebd-call-id") ?? "");
    const id = /"id":"(chatcmpl-[^"]+)"/.exec(text)?.[1];
    if (id) completionIds.push(id);
  }
  const ingested = await api<{ id: string }>("/api/calls", {
    request: { model: "fake-model", messages: [{ role: "user", content: "ingested" }] },
    response: { choices: [{ index: 0, message: { role: "assistant", content: "ok" } }] },
    sessionId: "fuzz-session-2",
    userId: "fuzz-user-2",
    tags: ["fuzz-tag-ingested"],
    metadata: { promptVersion: "v9" },
  });
  callIds.push(ingested.id);
  await server.ctx.recorder.flush();
  await api("/api/links", { upstreamTag: callIds[0], downstreamTag: "fuzz-tag-a" });
  await api("/api/annotations", { annotationKey: "fuzz-tag-a", numericReward: 1 });
  await api("/api/annotations", { annotationKey: callIds[1], numericReward: 0, correction: "better" });
  await api("/api/comparisons", { a: callIds[0], b: callIds[1], choice: "a" });
  await api(
    "/api/rubrics/quality",
    {
      fields: [
        { name: "quality", type: "scale", min: 1, max: 5 },
        { name: "comment", type: "text" },
      ],
    },
    "PUT",
  );
  const notes = await api<{ data: Array<{ id: string; url: string }> }>("/api/notifications", [
    { completionId: callIds[0], sendNotificationTo: "alice@example.com" },
    { completionId: callIds[1], sendNotificationTo: "alice@example.com", rubric: "quality" },
    { completionId: callIds[2], sendNotificationTo: "bob@example.com" },
    { completionId: callIds[3], sendNotificationTo: "bob@example.com", rubric: "quality" },
  ]);
  await api("/api/datasets", { name: "fuzz-ds", filter: { model: ["fake-model"] } });
  const run = await api<{ id: string }>("/api/evals", {
    callIds: callIds.slice(0, 2),
    candidate: { model: "fake-model" },
    checks: ["contains:baseline"],
  });
  // An export of a dataset records a snapshot of it.
  const exported = await fetch(`${server.url}/api/export?format=openai-sft&dataset=fuzz-ds`, { headers });
  assert.equal(exported.status, 200, await exported.text());
  const snapshots = await api<{ data: Array<{ id: string | number }> }>("/api/datasets/fuzz-ds/snapshots");

  const world: FuzzWorld = {
    routes,
    queryParams: new Map(),
    callIds,
    completionIds,
    tags: ["fuzz-tag-a", "fuzz-tag-0", "fuzz-tag-1", "fuzz-tag-ingested"],
    // Only the first two by id: revoking every link early would leave none to open.
    notificationIds: notes.data.slice(0, 2).map((n) => n.id),
    tokens: notes.data.map((n) => n.url.split("/a/")[1] ?? ""),
    datasets: ["fuzz-ds"],
    snapshotIds: snapshots.data.map((s) => String(s.id)),
    evalIds: [run.id],
    rubrics: ["default", "quality"],
    sessionIds: ["fuzz-session", "fuzz-session-2"],
    userIds: ["fuzz-user", "fuzz-user-2"],
    upstreams: ["alt"],
    origin: server.url,
    apiKey,
    maxBodyBytes: MAX_BODY_BYTES,
  };

  // Each GET route names the query parameters it knows when given one it does not (a 400 listing them).
  for (const r of routes) {
    if (r.method !== "GET" || !r.path.startsWith("/api/")) continue;
    const p = r.path.replace(/:(\w+)/g, (_, name: string) =>
      encodeURIComponent(
        name === "token"
          ? (world.tokens[0] ?? "x")
          : r.path.startsWith("/api/evals")
            ? run.id
            : r.path.startsWith("/api/datasets")
              ? "fuzz-ds"
              : (callIds[0] ?? "x"),
      ),
    );
    const res = await server.api<{ error?: { message?: string } }>(`${p}?zzfuzzprobe=1`, { headers });
    const known = /known: ([^)]*)\)/.exec(res.body?.error?.message ?? "")?.[1];
    if (known)
      world.queryParams.set(
        r.path,
        known.split(",").map((k) => k.trim()),
      );
  }
  world.queryParams.set("/api/evals/:id/items", ["offset", "limit"]);
  assert.ok(world.queryParams.has("/api/calls"), "GET /api/calls should name its query parameters");
  return { server, world, log, headers };
}

/** Sends the requests, `CONCURRENCY` at a time, and returns every failure. */
async function fuzz(
  s: Setup,
  requests: FuzzRequest[],
): Promise<{
  failures: Failure[];
  proxiedCalls: Map<string, FuzzRequest>;
  statuses: Map<string, number>;
  unsendable: number;
  probeStatuses: number[];
  /** Routes (their own method) that no request reached with a 2xx: where the generator needs better bodies. */
  neverSucceeded: string[];
}> {
  const base = new URL(s.server.url);
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  const failures: Failure[] = [];
  const proxiedCalls = new Map<string, FuzzRequest>();
  const statuses = new Map<string, number>();
  const inFlight = new Set<FuzzRequest>();
  const probeStatuses: number[] = [];
  const succeeded = new Set<string>();
  let unsendable = 0;
  // The server runs in this process: an exception nothing caught would have ended a real one. Which request
  // caused it cannot be told for sure, so the failure names the requests in flight.
  const onCrash = (err: unknown) => {
    const during = [...inFlight];
    failures.push({
      reason: `uncaught exception (would end the process): ${err instanceof Error ? err.stack : String(err)}`,
      request: during[0] ?? { method: "-", path: "-", headers: {}, target: "(between requests)" },
      serverLog: during.slice(1).map((r) => `also in flight: ${r.method} ${r.path}`),
    });
  };
  // node:test's own listeners would end the test at the first one; held back during the storm so that one run
  // shows every failure (they are restored after, and the failures are asserted on).
  const held = {
    uncaughtException: process.listeners("uncaughtException"),
    unhandledRejection: process.listeners("unhandledRejection"),
  };
  process.removeAllListeners("uncaughtException");
  process.removeAllListeners("unhandledRejection");
  process.on("uncaughtException", onCrash);
  process.on("unhandledRejection", onCrash);
  let next = 0;
  try {
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < requests.length) {
          const r = requests[next++] as FuzzRequest;
          inFlight.add(r);
          const o = await send(base, agent, r);
          inFlight.delete(r);
          if (o.unsendable) unsendable++;
          if (o.status && o.status < 300) succeeded.add(r.target);
          const cls = o.status ? `${String(o.status)[0]}xx` : o.error ? "error" : "none";
          statuses.set(cls, (statuses.get(cls) ?? 0) + 1);
          const callId = o.headers?.["x-intersebd-call-id"];
          // Only POST .../chat/completions is stored (other methods and paths are forwarded, not kept).
          const chat = r.method === "POST" && /\/v1\/chat\/completions\/?(\?|$)/.test(r.path);
          if (r.proxied && chat && typeof callId === "string") proxiedCalls.set(callId, r);
          const reason = judge(s.world, r, o);
          if (!reason) continue;
          const serverLog = s.log.filter((l) => l.at >= o.start && l.at <= o.end + 20).map((l) => l.line);
          // A reset on a reused connection is the doing of the answer before it on that connection (a
          // keep-alive answer, then the connection closed under the next request): that request is the cause.
          if (o.error && o.previous && /ECONNRESET|EPIPE|socket hang up/.test(o.error))
            failures.push({
              reason: `the next request on this kept-alive connection was reset (${o.error}) after its answer ${o.previous.status ?? "(none)"}`,
              request: o.previous.r,
              serverLog: [`reset request: ${r.method} ${excerpt(r.path, 80)}`, ...serverLog],
            });
          else {
            if (o.previous)
              serverLog.unshift(
                `kept-alive connection; its previous request: ${o.previous.r.method} ${excerpt(o.previous.r.path, 80)} → ${o.previous.status ?? "no answer"}`,
              );
            failures.push({ reason, request: r, outcome: o, serverLog });
          }
        }
      }),
    );
    const probes = await rawProbes(s, inFlight);
    failures.push(...probes.failures);
    probeStatuses.push(...probes.statuses);
  } finally {
    process.off("uncaughtException", onCrash);
    process.off("unhandledRejection", onCrash);
    for (const l of held.uncaughtException) process.on("uncaughtException", l);
    for (const l of held.unhandledRejection) process.on("unhandledRejection", l);
    agent.destroy();
  }
  const neverSucceeded = s.world.routes
    .map((r) => `${r.method} ${r.path}`)
    .filter((t) => t.includes(" /api/"))
    .filter((t) => !succeeded.has(t));
  return { failures, proxiedCalls, statuses, unsendable, probeStatuses, neverSucceeded };
}

/**
 * Requests Node's parser refuses or routes elsewhere (`CONNECT`, a malformed request line, huge headers, a bad
 * chunk): each must get an HTTP answer, not a connection closed on it without a word.
 */
const rawProbeList = (host: string) => [
  "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
  `GET /\u0000 HTTP/1.1\r\nHost: ${host}\r\n\r\n`,
  "GARBAGE\r\n\r\n",
  `GET /api/calls HTTP/1.1\r\nHost: ${host}\r\nX-Big: ${"a".repeat(20_000)}\r\n\r\n`,
  `POST /api/links HTTP/1.1\r\nHost: ${host}\r\nContent-Length: abc\r\n\r\n`,
  `POST /api/links HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n`,
  `GET /%ZZ/v1/models HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`,
  "GET /api/calls HTTP/1.0\r\n\r\n",
];

async function rawProbes(
  s: Setup,
  inFlight: Set<FuzzRequest>,
): Promise<{ failures: Failure[]; statuses: number[] }> {
  const base = new URL(s.server.url);
  const failures: Failure[] = [];
  const statuses: number[] = [];
  for (const probe of rawProbeList(base.host)) {
    const request: FuzzRequest = {
      method: "raw",
      path: probe.split("\r\n")[0] ?? "",
      headers: {},
      target: `raw ${probe.split(" ")[0]}`,
    };
    inFlight.add(request);
    const answer = await new Promise<{ head: string; error?: string }>((resolve) => {
      let head = "";
      const socket = net.connect(Number(base.port), base.hostname, () => socket.write(probe));
      const timer = setTimeout(() => {
        socket.destroy();
        resolve({ head, error: head ? undefined : `no answer within ${ANSWER_WITHIN_MS} ms` });
      }, ANSWER_WITHIN_MS);
      socket.on("data", (d: Buffer) => {
        head += d.toString("latin1");
        // One status line is all this probe needs.
        if (head.includes("\r\n")) {
          clearTimeout(timer);
          socket.destroy();
          resolve({ head });
        }
      });
      socket.on("error", (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        resolve({ head, error: `${err.code ?? "error"}: ${err.message}` });
      });
      socket.on("close", () => {
        clearTimeout(timer);
        resolve({ head, error: head ? undefined : "connection closed without an answer" });
      });
    });
    const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(answer.head)?.[1] ?? 0);
    inFlight.delete(request);
    statuses.push(status);
    const reason =
      answer.error ?? (status >= 500 || !status ? `answered ${excerpt(answer.head, 80)}` : undefined);
    if (reason) failures.push({ reason, request, serverLog: [] });
  }
  return { failures, statuses };
}

/** After the storm: the server answers, every list still reads, every captured call was kept. */
async function afterChecks(s: Setup, proxiedCalls: Map<string, FuzzRequest>): Promise<string[]> {
  const problems: string[] = [];
  const get = async (p: string) => {
    try {
      const since = Date.now();
      const r = await s.server.api(p, { headers: s.headers });
      if (r.status !== 200) {
        const log = s.log.filter((l) => l.at >= since).map((l) => `\n      log: ${excerpt(l.line, 400)}`);
        problems.push(
          `GET ${p} → ${r.status} ${excerpt(JSON.stringify(r.body), 300)}${log.slice(0, 1).join("")}`,
        );
      }
      return r;
    } catch (err) {
      problems.push(`GET ${p} → ${String(err)} (server dead?)`);
      return undefined;
    }
  };
  await get("/healthz");
  for (const p of [
    "/api/review-queue",
    "/api/sessions",
    "/api/notifications",
    "/api/datasets",
    "/api/evals",
    "/api/rubrics",
    "/api/metrics/timeseries?metric=reward&groupBy=promptVersion",
    "/api/metrics/timeseries?metric=reward&groupBy=promptVersion&bucket=day",
    "/api/metrics/timeseries?metric=cost&groupBy=model",
    "/api/metrics/timeseries?metric=latency&groupBy=upstream",
    "/api/metrics/timeseries?metric=passRate",
    "/api/export?format=rewards&report=1",
    "/api/export?format=openai-sft",
    "/metrics",
  ])
    await get(p);
  // Every page of the calls list, so that one bad row cannot hide behind the first page.
  let cursor: string | null | undefined;
  for (let page = 0; page < 200; page++) {
    const r = await get(`/api/calls?limit=50${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
    cursor = (r?.body as { nextCursor?: string | null } | undefined)?.nextCursor;
    if (!cursor) break;
  }
  // Nothing the proxy captured is dropped silently: stored, or set aside in the spool's rejected-*.jsonl.
  await s.server.ctx.recorder.flush();
  const spool = path.join(s.server.config.dataDir, "spool");
  const rejected = fs.existsSync(spool)
    ? fs
        .readdirSync(spool)
        .filter((f) => f.startsWith("rejected-"))
        .map((f) => fs.readFileSync(path.join(spool, f), "utf8"))
        .join("\n")
    : "";
  const lost: string[] = [];
  for (const [id, r] of proxiedCalls) {
    const got = await s.server.api(`/api/calls/${encodeURIComponent(id)}`, { headers: s.headers });
    if (got.status !== 200 && !rejected.includes(id))
      lost.push(
        `${id} (GET → ${got.status}) from ${r.method} ${excerpt(r.path, 80)} headers ${excerpt(JSON.stringify(r.headers), 300)} body ${excerpt(r.body, 300)}`,
      );
  }
  if (lost.length)
    problems.push(
      `${lost.length} proxied call(s) neither stored nor set aside, e.g.:\n    ${lost.slice(0, 3).join("\n    ")}`,
    );
  return problems;
}

for (const dialect of DIALECTS) {
  describe(`fuzz on ${dialect}`, { timeout: 300_000 }, async () => {
    const skip = dialect === "postgres" && !(await postgresAvailable());
    const fakes: FakeUpstream[] = [];
    before(async () => {
      if (skip) return;
      fakes.push(
        await startFakeUpstream({ keepRequests: false }),
        await startFakeUpstream({ keepRequests: false }),
      );
    });
    after(async () => {
      for (const f of fakes) await f.close();
    });

    for (const keyed of [false, true]) {
      const runs = keyed ? KEYED_RUNS : RUNS;
      const label = `${dialect}, ${keyed ? "INTERSEBD_API_KEY set" : "no API key"}, seed ${SEED}, ${runs} requests`;
      it(`${runs} seeded requests (${keyed ? "API key set" : "no API key"}): no 5xx but an upstream's, no reset, no hang, still reads after`, async (t) => {
        if (skip) {
          t.skip("PostgreSQL unreachable (see the message above): the fuzz test did NOT run on postgres");
          return;
        }
        const s = await setUp(dialect, fakes, keyed ? API_KEY : undefined);
        try {
          const requests = fuzzRequests(s.world, keyed ? SEED + 1 : SEED, runs);
          const { failures, proxiedCalls, statuses, unsendable, probeStatuses, neverSucceeded } = await fuzz(
            s,
            requests,
          );
          t.diagnostic(
            `${label}: ${[...statuses].map(([k, v]) => `${k} ${v}`).join(", ")}; ${s.world.routes.length} routes; ${unsendable} not sendable by the client${unsendable ? ` (${unsendableExamples.slice(0, 3).join("; ")})` : ""}; ${s.log.length} server warn/error lines; raw probes answered ${probeStatuses.join(", ")}; no 2xx from ${neverSucceeded.join(", ") || "(every route had one)"}`,
          );
          const problems = await afterChecks(s, proxiedCalls);
          const message = [
            failures.length ? report(failures, SEED, runs, label) : "",
            problems.length ? `after the run (${label}):\n  ${problems.join("\n  ")}` : "",
          ]
            .filter(Boolean)
            .join("\n\n");
          assert.ok(failures.length === 0 && problems.length === 0, message);
        } finally {
          await s.server.stop();
        }
      });
    }
  });
}
