/**
 * Test helpers for what the proxy records: the stored call behind an `x-intersebd-call-id`, the files of a data
 * dir, and whether a streamed call's record is journaled before its terminal event reaches the client.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import type { TestServer } from "./harness.ts";

/** The call the proxy answered `id` for (its `x-intersebd-call-id`), once the recorder has flushed it. */
export async function storedCall<T>(s: TestServer, id: string | null): Promise<T> {
  assert.ok(id, "the proxy answers x-intersebd-call-id");
  await s.ctx.recorder.flush();
  const r = await s.api<T>(`/api/calls/${encodeURIComponent(id)}`);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body;
}

/** Every file below `dir` (none when it does not exist). */
export function filesUnder(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile())
    .map((e) => path.join(e.parentPath, e.name));
}

/**
 * Streams `body` through `s`'s proxy at `pathname` over a plain socket, the fake upstream replaying its `text`
 * fixture with a delay between chunks, and answers whether the call's id was in a file of the data dir (the
 * journal) when the client read `terminalEvent` (undefined if it never came).
 */
export async function journaledBeforeTerminal(
  s: TestServer,
  pathname: string,
  body: unknown,
  terminalEvent: string,
): Promise<boolean | undefined> {
  const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
    const req = http.request(`${s.url}${pathname}`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-fake-fixture": "text", "x-fake-chunk-delay-ms": "2" },
    });
    req.on("response", resolve).on("error", reject);
    req.end(JSON.stringify(body));
  });
  const id = String(res.headers["x-intersebd-call-id"]);
  let seen: boolean | undefined;
  res.setEncoding("utf8");
  for await (const chunk of res) {
    if (seen === undefined && String(chunk).includes(`event: ${terminalEvent}`))
      seen = filesUnder(s.config.dataDir).some((f) => fs.readFileSync(f, "latin1").includes(id));
  }
  return seen;
}
