/**
 * How the proxy forwards a chat completion's answer now that it holds back its last bytes until the record is
 * journaled (answered means stored): compressed answers, plain and streamed, reach the client byte for byte and
 * are stored decoded; a client that stops reading makes the upstream wait (backpressure), not the proxy buffer.
 */
import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import zlib from "node:zlib";
import { DIALECTS, eventually, postgresAvailable, startTestServer } from "../testing/index.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const completion = {
  id: "chatcmpl-gz",
  object: "chat.completion",
  model: "gpt-4o-mini",
  choices: [{ index: 0, message: { role: "assistant", content: "compressed hello" }, finish_reason: "stop" }],
};
const events = [
  {
    id: "chatcmpl-gzs",
    object: "chat.completion.chunk",
    model: "m",
    choices: [{ index: 0, delta: { role: "assistant", content: "one " } }],
  },
  {
    id: "chatcmpl-gzs",
    object: "chat.completion.chunk",
    model: "m",
    choices: [{ index: 0, delta: { content: "two" } }],
  },
  {
    id: "chatcmpl-gzs",
    object: "chat.completion.chunk",
    model: "m",
    choices: [{ index: 0, delta: {}, finish_reason: "stop" }],
  },
];
const BIG = 48 * 1024 * 1024;

/** An upstream with the answers these tests need, chosen by the `x-mode` header. */
function startUpstream() {
  const progress = { written: 0 };
  const server = http.createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      const mode = req.headers["x-mode"];
      if (mode === "gzip-json") {
        const body = zlib.gzipSync(JSON.stringify(completion));
        res.writeHead(200, {
          "content-type": "application/json",
          "content-encoding": "gzip",
          "content-length": body.length,
        });
        // In pieces, so that the last one is held back while the record is decoded and journaled.
        res.write(body.subarray(0, 10));
        setTimeout(() => res.end(body.subarray(10)), 5);
      } else if (mode === "gzip-sse") {
        res.writeHead(200, { "content-type": "text/event-stream", "content-encoding": "gzip" });
        const gz = zlib.createGzip();
        gz.pipe(res);
        void (async () => {
          for (const e of events) {
            gz.write(`data: ${JSON.stringify(e)}\n\n`);
            gz.flush();
            await sleep(2);
          }
          gz.end("data: [DONE]\n\n");
        })();
      } else {
        // A large answer, written as fast as the proxy takes it.
        const head =
          '{"id":"chatcmpl-big","object":"chat.completion","model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"';
        const tail = '"},"finish_reason":"stop"}]}';
        const piece = Buffer.alloc(1024 * 1024, "a");
        res.writeHead(200, {
          "content-type": "application/json",
          "content-length": head.length + BIG + tail.length,
        });
        res.write(head);
        const pump = () => {
          while (progress.written < BIG) {
            progress.written += piece.length;
            if (!res.write(piece)) return void res.once("drain", pump);
          }
          res.end(tail);
        };
        res.on("close", () => res.removeAllListeners("drain"));
        pump();
      }
    });
  });
  return new Promise<{ url: string; progress: typeof progress; close(): Promise<void> }>((resolve) =>
    server.listen(0, "127.0.0.1", () =>
      resolve({
        url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`,
        progress,
        close: () =>
          new Promise<void>((r) => {
            server.closeAllConnections();
            server.close(() => r());
          }),
      }),
    ),
  );
}

for (const dialect of DIALECTS) {
  describe(`proxy forwarding (${dialect})`, () => {
    let upstream: Awaited<ReturnType<typeof startUpstream>>;
    let server: Awaited<ReturnType<typeof startTestServer>> | undefined;
    before(async () => {
      upstream = await startUpstream();
      if (dialect === "postgres" && !(await postgresAvailable())) return;
      server = await startTestServer(dialect, { upstream: upstream.url });
    });
    after(async () => {
      await server?.stop();
      await upstream.close();
    });

    const post = (mode: string, body: object = { model: "m", messages: [] }) =>
      fetch(`${server?.url}/v1/chat/completions`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-mode": mode },
        body: JSON.stringify(body),
      });

    it("passes a gzip-compressed answer of known length through and stores it decoded", async (t) => {
      if (!server) return t.skip("PostgreSQL unreachable");
      const r = await post("gzip-json");
      assert.deepEqual(await r.json(), completion, "fetch decodes what the proxy forwarded untouched");
      const id = r.headers.get("x-intersebd-call-id") as string;
      await server.ctx.recorder.flush();
      const call = (await server.api<{ outcome: string; completionId: string }>(`/api/calls/${id}`)).body;
      assert.equal(call.outcome, "ok");
      assert.equal(call.completionId, "chatcmpl-gz");
    });

    it("passes a gzip-compressed stream through and stores it reassembled", async (t) => {
      if (!server) return t.skip("PostgreSQL unreachable");
      const r = await post("gzip-sse", { model: "m", messages: [], stream: true });
      const text = await r.text();
      assert.ok(text.endsWith("data: [DONE]\n\n"));
      const id = r.headers.get("x-intersebd-call-id") as string;
      await server.ctx.recorder.flush();
      const call = (
        await server.api<{ outcome: string; response: { choices: Array<{ message: { content: string } }> } }>(
          `/api/calls/${id}`,
        )
      ).body;
      assert.equal(call.outcome, "ok");
      assert.equal(call.response.choices[0]?.message.content, "one two");
    });

    it("makes the upstream wait while the client does not read (no buffering in the proxy)", async (t) => {
      if (!server) return t.skip("PostgreSQL unreachable");
      upstream.progress.written = 0;
      const url = new URL(`${server.url}/v1/chat/completions`);
      const client = http.request(url, { method: "POST", headers: { "content-type": "application/json" } });
      const res = await new Promise<http.IncomingMessage>((resolve) => {
        client.on("response", resolve);
        client.end(JSON.stringify({ model: "m", messages: [] }));
      });
      res.pause();
      // The upstream stops making progress: every buffer between it and the client is full.
      let last = -1;
      await eventually(
        async () => {
          await sleep(200);
          const now = upstream.progress.written;
          const stalled = now === last;
          last = now;
          return stalled;
        },
        20_000,
        "the upstream to stall",
      );
      assert.ok(
        upstream.progress.written < BIG / 2,
        `the upstream wrote ${upstream.progress.written} of ${BIG} bytes to a client that reads nothing`,
      );
      // Reading again lets the rest through: the answer arrives whole.
      let received = 0;
      res.on("data", (d: Buffer) => {
        received += d.length;
      });
      res.resume();
      await new Promise((r) => res.on("end", r));
      assert.equal(received, Number(res.headers["content-length"]));
    });
  });
}
