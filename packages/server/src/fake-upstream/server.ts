/**
 * A fake OpenAI-compatible server that speaks the real protocol over HTTP, for tests, benchmarks, the worked
 * example and demos (`intersebd fake-upstream`). The LLM provider is the one part we cannot run here.
 *
 * Behaviour is chosen per request:
 * - default: a `chat.completion` whose content is `echo: <last user message>`; `n` choices; usage.
 * - `stream: true`: the same, as `chat.completion.chunk` events word by word; usage when
 *   `stream_options.include_usage` is set; then `data: [DONE]`.
 * - `tools` given and a user message containing "weather": a tool call (`get_weather` with JSON arguments).
 * - a system (or developer) message containing `[[GOOD]]` or `[[BAD]]`: the marker is appended to the echo, so a
 *   prompt change changes the answer (the experiments' worked example and tests judge by it).
 * - model `fake-judge`: replies with a deterministic verdict for LLM-judge tests (see `judgeVerdict`).
 * - `POST /v1/moderations`: OpenAI's moderation response (`results[i]` per input, all 13 categories), an input
 *   flagged in each category it names with a marker `[[FLAG:<category>]]` (`[[FLAG:violence]]`,
 *   `[[FLAG:self-harm/intent]]`); see `moderationFor`.
 * - header `x-fake-fixture: <name>`: replays `<name>.sse` byte for byte, looked up in `fixturesDir`, then in the
 *   recorded OpenAI streams and the provider-shaped streams (`RECORDED_STREAMS_DIR`, `PROVIDER_STREAMS_DIR`).
 * - header `x-fake-end-delay-ms`: wait that long between a stream's last event (`data: [DONE]`) and the end of
 *   its body, as real servers sometimes do (a client that stops reading at `[DONE]` closes in between).
 * - header `x-fake-status: 429` (any code) with optional `x-fake-retry-after`: an OpenAI-shaped error.
 * - header `x-fake-delay-ms`: wait before the response headers; `x-fake-chunk-delay-ms`: between stream events.
 *   Option `delayMs` is that wait for every request without the header: a whole upstream that is slow, for a
 *   client that cannot set headers (the benchmark's shadow variant, sent by intersebd to a named upstream).
 * - header `x-fake-disconnect-after: N`: destroy the connection after N stream events.
 * - header `x-fake-end-delay-ms`: end the stream's body that long after `data: [DONE]` (sent at once).
 * - `GET /v1/models`, `POST /v1/embeddings`: small valid answers.
 * - `POST /v1/responses`, `GET /v1/responses/{id}`: OpenAI's Responses API, streamed or not (see responses.ts).
 * - `POST /v1/messages`: Anthropic's Messages API, streamed or not, with its own fixtures (see messages.ts).
 * - `GET /__requests`: the requests seen (method, url, headers, body) for assertions; `DELETE /__requests` clears.
 */
import { createHash } from "node:crypto";
import http from "node:http";
import path from "node:path";
import { answerMessages } from "./messages.ts";
import { replayFixture, sleep, streamControls } from "./replay.ts";
import { responsesFake } from "./responses.ts";

export interface SeenRequest {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export interface FakeUpstream {
  url: string;
  port: number;
  requests: SeenRequest[];
  /** Count of requests whose connection the client closed before the response ended. */
  aborted: number;
  /** Count of TCP connections accepted (a client that reuses kept-alive sockets opens fewer). */
  connections: number;
  /** Count of responses sent to their end. */
  finished: number;
  close(): Promise<void>;
}

interface ChatRequest {
  model?: string;
  messages?: Array<{ role: string; content?: unknown }>;
  stream?: boolean;
  stream_options?: { include_usage?: boolean };
  n?: number;
  tools?: unknown[];
  response_format?: { type?: string };
}

function lastUserText(req: ChatRequest): string {
  const m = [...(req.messages ?? [])].reverse().find((x) => x.role === "user");
  if (typeof m?.content === "string") return m.content;
  if (Array.isArray(m?.content)) return m.content.map((p) => (p as { text?: string }).text ?? "").join(" ");
  return "";
}

/** The text between `<tag>` and `</tag>` in a prompt, if it has them. */
function section(prompt: string, tag: string): string | undefined {
  return new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`).exec(prompt)?.[1];
}

/**
 * A fake judge's verdict, a pure function of the prompt so tests can compute expectations by hand:
 * for a pairwise prompt it prefers the answer labelled A when the prompt contains "[[A-WINS]]", B for
 * "[[B-WINS]]" (a judge biased by position), else the one of `<answer_a>…</answer_a>` and
 * `<answer_b>…</answer_b>` that alone contains "[[GOOD]]" (a judge that reads the answers), else tie;
 * for an absolute prompt the score is the number after "[[SCORE:" (looked for inside `<answer>…</answer>`
 * when the prompt has that section, so the question's text does not count), or 3.
 */
export function judgeVerdict(prompt: string): string {
  const flagList = section(prompt, "flags");
  if (flagList !== undefined) return floorVerdict(flagList, section(prompt, "answer") ?? "");
  if (prompt.includes("[[A-WINS]]")) return JSON.stringify({ choice: "a", reason: "fake judge: marker A" });
  if (prompt.includes("[[B-WINS]]")) return JSON.stringify({ choice: "b", reason: "fake judge: marker B" });
  const a = section(prompt, "answer_a");
  const b = section(prompt, "answer_b");
  if (a !== undefined && b !== undefined && a.includes("[[GOOD]]") !== b.includes("[[GOOD]]")) {
    const choice = a.includes("[[GOOD]]") ? "a" : "b";
    return JSON.stringify({ choice, reason: `fake judge: [[GOOD]] in answer ${choice.toUpperCase()}` });
  }
  const score = /\[\[SCORE:(\d+)]]/.exec(section(prompt, "answer") ?? prompt)?.[1];
  if (/compare|pairwise|which answer/i.test(prompt))
    return JSON.stringify({ choice: "tie", reason: "fake judge: no marker" });
  return JSON.stringify({ score: Number(score ?? 3), reason: "fake judge" });
}

/**
 * A fake floor judge's reply: each listed flag whose marker `[[FLAG:<flag>]]` (any case) is in the answer, with
 * the answer's line holding the marker as its excerpt; a marker for a flag not in the list is not reported.
 */
function floorVerdict(flagList: string, answer: string): string {
  const listed = flagList
    .split("\n")
    .map((l) => l.replace(/^\s*-\s*/, "").trim())
    .filter(Boolean);
  const lines = answer.split("\n");
  const flags = [];
  for (const flag of listed) {
    const marker = `[[flag:${flag.toLowerCase()}]]`;
    const line = lines.find((l) => l.toLowerCase().includes(marker));
    if (line !== undefined) flags.push({ flag, excerpt: line.trim() });
  }
  return JSON.stringify({ flags });
}

/** OpenAI's moderation categories, and the input types each one's score can apply to (per the API reference). */
const MODERATION_CATEGORIES: Record<string, Array<"text" | "image">> = {
  harassment: ["text"],
  "harassment/threatening": ["text"],
  hate: ["text"],
  "hate/threatening": ["text"],
  illicit: ["text"],
  "illicit/violent": ["text"],
  "self-harm": ["text", "image"],
  "self-harm/intent": ["text", "image"],
  "self-harm/instructions": ["text", "image"],
  sexual: ["text", "image"],
  "sexual/minors": ["text"],
  violence: ["text", "image"],
  "violence/graphic": ["text", "image"],
};

/**
 * A moderation response for a request body, shaped as OpenAI's `POST /v1/moderations` answers: one result per
 * input (a string, an array of strings, or an array of `{type: "text", text}` / `{type: "image_url", ...}`
 * parts, which together are one input), each with `flagged`, every category's boolean, score and applied input
 * types. A category is flagged when the input's text holds `[[FLAG:<category>]]`.
 */
export function moderationFor(body: { input?: unknown; model?: unknown }): Record<string, unknown> {
  const raw = body.input;
  const inputs: Array<{ text: string; image: boolean }> =
    typeof raw === "string"
      ? [{ text: raw, image: false }]
      : Array.isArray(raw) && raw.every((x) => typeof x === "string")
        ? raw.map((text: string) => ({ text, image: false }))
        : Array.isArray(raw)
          ? [
              {
                text: raw.map((p) => (p as { text?: string }).text ?? "").join(" "),
                image: raw.some((p) => (p as { type?: string }).type === "image_url"),
              },
            ]
          : [];
  const results = inputs.map(({ text, image }) => {
    const lower = text.toLowerCase();
    const categories: Record<string, boolean> = {};
    const scores: Record<string, number> = {};
    const applied: Record<string, string[]> = {};
    for (const [c, types] of Object.entries(MODERATION_CATEGORIES)) {
      categories[c] = lower.includes(`[[flag:${c}]]`);
      scores[c] = categories[c] ? 0.9731 : 0.0001;
      applied[c] = image && types.includes("image") ? ["text", "image"] : ["text"];
    }
    return {
      flagged: Object.values(categories).some(Boolean),
      categories,
      category_scores: scores,
      category_applied_input_types: applied,
    };
  });
  return {
    id: `modr-${createHash("sha256").update(JSON.stringify(body)).digest("hex").slice(0, 32)}`,
    model: typeof body.model === "string" ? body.model : "omni-moderation-latest",
    results,
  };
}

function completionId(body: string): string {
  return `chatcmpl-fake${createHash("sha256").update(body).update(String(Math.random())).digest("hex").slice(0, 20)}`;
}

function answerFor(req: ChatRequest): { content: string | null; toolCalls?: unknown[] } {
  const text = lastUserText(req);
  if (req.model === "fake-judge") return { content: judgeVerdict(text) };
  if (req.tools?.length && /weather/i.test(text)) {
    return {
      content: null,
      toolCalls: [
        {
          id: "call_fake_weather_1",
          type: "function",
          function: { name: "get_weather", arguments: JSON.stringify({ city: "Paris", unit: "c" }) },
        },
      ],
    };
  }
  if (req.response_format?.type === "json_object" || req.response_format?.type === "json_schema") {
    return { content: JSON.stringify({ echo: text }) };
  }
  // A marker in the system prompt shows in the answer: a prompt change changes what judges and users see.
  const marker = /\[\[(GOOD|BAD)\]\]/.exec(systemText(req))?.[0];
  return { content: marker ? `echo: ${text} ${marker}` : `echo: ${text}` };
}

function systemText(req: ChatRequest): string {
  return (req.messages ?? [])
    .filter((m) => m.role === "system" || m.role === "developer")
    .map((m) => (typeof m.content === "string" ? m.content : ""))
    .join("\n");
}

function usageFor(req: ChatRequest, completion: string) {
  const prompt = JSON.stringify(req.messages ?? []).length >> 2;
  const out = Math.max(1, completion.length >> 2);
  return { prompt_tokens: prompt, completion_tokens: out, total_tokens: prompt + out };
}

/**
 * Real Chat Completions streams recorded from the OpenAI API (see its README): the fake upstream replays them
 * byte for byte, and tests compare what intersebd stores with what the official client assembles from them.
 * They live in the repository so that a clone with nothing beside it passes its tests.
 */
export const RECORDED_STREAMS_DIR = path.resolve(import.meta.dirname, "fixtures/openai-chat-streams");

/**
 * Streams in the shapes other OpenAI-compatible servers send (Azure OpenAI, OpenRouter, vLLM, Ollama, DeepSeek,
 * Groq, Mistral), mid-stream errors, truncation, keep-alive comments and CRLF: built from the providers'
 * published documentation and examples (see its README).
 */
export const PROVIDER_STREAMS_DIR = path.resolve(import.meta.dirname, "fixtures/provider-chat-streams");

export async function startFakeUpstream(
  opts: { port?: number; host?: string; fixturesDir?: string; keepRequests?: boolean; delayMs?: number } = {},
): Promise<FakeUpstream> {
  const fixtureDirs = [
    ...new Set([opts.fixturesDir ?? RECORDED_STREAMS_DIR, RECORDED_STREAMS_DIR, PROVIDER_STREAMS_DIR]),
  ];
  const requests: SeenRequest[] = [];
  const state = { aborted: 0, connections: 0, finished: 0 };
  const responses = responsesFake(fixtureDirs);

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks).toString("utf8");
    const url = req.url ?? "/";
    if (url === "/__requests") {
      if (req.method === "DELETE") requests.length = 0;
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify(requests));
      return;
    }
    if (opts.keepRequests !== false)
      requests.push({ method: req.method ?? "", url, headers: req.headers, body });
    res.on("close", () => {
      if (!res.writableFinished) state.aborted++;
    });
    res.on("finish", () => state.finished++);

    const h = (name: string) => req.headers[name] as string | undefined;
    const delay = Number(h("x-fake-delay-ms") ?? opts.delayMs ?? 0);
    if (delay) await sleep(delay);
    if (res.destroyed) return;

    const status = Number(h("x-fake-status") ?? 0);
    if (status) {
      const headers: http.OutgoingHttpHeaders = {
        "content-type": "application/json",
        "x-request-id": "req_fake_error",
      };
      if (h("x-fake-retry-after")) headers["retry-after"] = h("x-fake-retry-after");
      res.writeHead(status, headers);
      res.end(
        JSON.stringify({
          error: { message: `fake upstream error ${status}`, type: "fake_error", code: String(status) },
        }),
      );
      return;
    }

    if (req.method === "GET" && url.startsWith("/v1/models")) {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(
        JSON.stringify({
          object: "list",
          data: [{ id: "fake-model", object: "model", owned_by: "intersebd" }],
        }),
      );
      return;
    }
    if (req.method === "POST" && url.startsWith("/v1/embeddings")) {
      res.writeHead(200, { "content-type": "application/json" });
      const vector = [0.1, 0.2, 0.3];
      // The openai client asks for base64 (little-endian float32) by default and decodes it itself.
      const wantsBase64 =
        (JSON.parse(body || "{}") as { encoding_format?: string }).encoding_format === "base64";
      const embedding = wantsBase64
        ? Buffer.from(new Float32Array(vector).buffer).toString("base64")
        : vector;
      const usage = { prompt_tokens: 1, total_tokens: 1 };
      res.end(
        JSON.stringify({
          object: "list",
          data: [{ object: "embedding", index: 0, embedding }],
          model: "fake-embed",
          usage,
        }),
      );
      return;
    }
    if (req.method === "POST" && url.startsWith("/v1/moderations")) {
      let parsed: { input?: unknown; model?: unknown };
      try {
        parsed = JSON.parse(body || "{}") as typeof parsed;
      } catch {
        parsed = {};
      }
      if (parsed.input === undefined) {
        res.writeHead(400, { "content-type": "application/json" });
        res.end(
          JSON.stringify({
            error: {
              message: "Missing required parameter: 'input'.",
              type: "invalid_request_error",
              param: "input",
              code: "missing_required_parameter",
            },
          }),
        );
        return;
      }
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify(moderationFor(parsed)));
      return;
    }
    if (url.startsWith("/v1/responses") && (await responses.answer(req.method ?? "", url, body, h, res)))
      return;
    if (req.method === "POST" && /^\/v1\/messages\/?(\?|$)/.test(url)) {
      await answerMessages(body, h, res, fixtureDirs);
      return;
    }
    if (!(req.method === "POST" && url.startsWith("/v1/chat/completions"))) {
      res.writeHead(404, { "content-type": "application/json" });
      res.end(JSON.stringify({ error: { message: `fake upstream has no route ${req.method} ${url}` } }));
      return;
    }

    let chat: ChatRequest;
    try {
      chat = JSON.parse(body) as ChatRequest;
    } catch {
      res.writeHead(400, { "content-type": "application/json" });
      res.end(
        JSON.stringify({
          error: {
            message: "We could not parse the JSON body of your request.",
            type: "invalid_request_error",
          },
        }),
      );
      return;
    }

    const controls = streamControls(h);
    const { chunkDelay, disconnectAfter } = controls;
    const endDelay = Number(h("x-fake-end-delay-ms") ?? 0);
    const fixture = h("x-fake-fixture");
    if (fixture) return replayFixture(res, fixture, fixtureDirs, "x-request-id", { ...controls, endDelay });

    const id = completionId(body);
    const created = Math.floor(Date.now() / 1000);
    const model = chat.model ?? "fake-model";
    const n = Math.max(1, Math.min(chat.n ?? 1, 8));
    const answer = answerFor(chat);
    const usage = usageFor(chat, answer.content ?? JSON.stringify(answer.toolCalls));

    if (!chat.stream) {
      const choices = Array.from({ length: n }, (_, index) => ({
        index,
        message: {
          role: "assistant",
          content: answer.content,
          refusal: null,
          ...(answer.toolCalls ? { tool_calls: answer.toolCalls } : {}),
        },
        logprobs: null,
        finish_reason: answer.toolCalls ? "tool_calls" : "stop",
      }));
      const payload = JSON.stringify({
        id,
        object: "chat.completion",
        created,
        model,
        choices,
        usage,
        system_fingerprint: "fp_fake",
      });
      res.writeHead(200, {
        "content-type": "application/json",
        "x-request-id": `req_${id}`,
        "openai-processing-ms": "1",
      });
      res.end(payload);
      return;
    }

    res.writeHead(200, { "content-type": "text/event-stream; charset=utf-8", "x-request-id": `req_${id}` });
    const base = { id, object: "chat.completion.chunk", created, model, system_fingerprint: "fp_fake" };
    const events: unknown[] = [];
    for (let index = 0; index < n; index++) {
      events.push({
        ...base,
        choices: [{ index, delta: { role: "assistant", content: "" }, logprobs: null, finish_reason: null }],
      });
    }
    if (answer.toolCalls) {
      const tc = answer.toolCalls[0] as { id: string; function: { name: string; arguments: string } };
      const args = tc.function.arguments;
      for (let index = 0; index < n; index++) {
        events.push({
          ...base,
          choices: [
            {
              index,
              delta: {
                tool_calls: [
                  {
                    index: 0,
                    id: tc.id,
                    type: "function",
                    function: { name: tc.function.name, arguments: "" },
                  },
                ],
              },
              logprobs: null,
              finish_reason: null,
            },
          ],
        });
        for (let i = 0; i < args.length; i += 8) {
          events.push({
            ...base,
            choices: [
              {
                index,
                delta: { tool_calls: [{ index: 0, function: { arguments: args.slice(i, i + 8) } }] },
                logprobs: null,
                finish_reason: null,
              },
            ],
          });
        }
      }
    } else {
      const words = (answer.content ?? "").split(/(?<= )/);
      for (const w of words) {
        for (let index = 0; index < n; index++) {
          events.push({
            ...base,
            choices: [{ index, delta: { content: w }, logprobs: null, finish_reason: null }],
          });
        }
      }
    }
    for (let index = 0; index < n; index++) {
      events.push({
        ...base,
        choices: [
          { index, delta: {}, logprobs: null, finish_reason: answer.toolCalls ? "tool_calls" : "stop" },
        ],
      });
    }
    if (chat.stream_options?.include_usage) events.push({ ...base, choices: [], usage });
    let sent = 0;
    for (const ev of events) {
      if (sent++ >= disconnectAfter || res.destroyed) return void res.destroy();
      res.write(`data: ${JSON.stringify(ev)}\n\n`);
      if (chunkDelay) await sleep(chunkDelay);
    }
    // `x-fake-end-delay-ms`: the end of the body comes that long after `[DONE]`, as from a provider (or a proxy in
    // front of one) that flushes the terminator before closing: clients that stop at `[DONE]` close first.
    if (!endDelay) return void res.end("data: [DONE]\n\n");
    res.write("data: [DONE]\n\n");
    await sleep(endDelay);
    if (!res.destroyed) res.end();
  };
  // A body it cannot answer (messages not an array, JSON nested too deep to serialise) is a 400, as from
  // the real API, never an exception: fuzz tests send such bodies, and the fake runs in their process.
  const server = http.createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (res.headersSent) return void res.destroy();
      res.writeHead(400, { "content-type": "application/json" });
      res.end(JSON.stringify({ error: { message: `fake upstream cannot answer: ${String(err)}` } }));
    });
  });
  server.keepAliveTimeout = 65_000;
  server.on("connection", () => state.connections++);

  await new Promise<void>((resolve) =>
    server.listen(opts.port ?? 0, opts.host ?? "127.0.0.1", () => resolve()),
  );
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    port,
    requests,
    get aborted() {
      return state.aborted;
    },
    get connections() {
      return state.connections;
    },
    get finished() {
      return state.finished;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
