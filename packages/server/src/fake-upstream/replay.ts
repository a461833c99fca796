/**
 * What the fake upstream's three APIs (chat completions, Responses, Messages) share: the `x-fake-*` stream
 * controls and the byte-for-byte replay of a `.sse` fixture.
 */
import fs from "node:fs";
import type http from "node:http";
import path from "node:path";

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Reads a request header (the `x-fake-*` controls). */
export type HeaderOf = (name: string) => string | undefined;

export interface StreamControls {
  /** `x-fake-chunk-delay-ms`: a pause after each event. */
  chunkDelay: number;
  /** `x-fake-disconnect-after`: the connection is destroyed after this many events. */
  disconnectAfter: number;
}

export function streamControls(h: HeaderOf): StreamControls {
  const disconnect = h("x-fake-disconnect-after");
  return {
    chunkDelay: Number(h("x-fake-chunk-delay-ms") ?? 0),
    disconnectAfter: disconnect ? Number(disconnect) : Number.POSITIVE_INFINITY,
  };
}

/**
 * Replays `<fixture>.sse`, looked up in `dirs` in order (the first when none has it), one SSE event per write so
 * that chunk boundaries look like the real thing. `requestId` is the header the API names its request id with.
 */
export async function replayFixture(
  res: http.ServerResponse,
  fixture: string,
  dirs: string[],
  requestIdHeader: string,
  controls: StreamControls & { endDelay?: number },
): Promise<void> {
  const name = `${path.basename(fixture)}.sse`;
  const dir = dirs.find((d) => fs.existsSync(path.join(d, name))) ?? dirs[0] ?? "";
  const raw = fs.readFileSync(path.join(dir, name));
  res.writeHead(200, {
    "content-type": "text/event-stream; charset=utf-8",
    [requestIdHeader]: "req_fake_fixture",
  });
  let sent = 0;
  for (const ev of raw.toString("utf8").split(/(?<=\n\r?\n)/)) {
    if (sent++ >= controls.disconnectAfter) return void res.destroy();
    res.write(ev);
    if (controls.chunkDelay) await sleep(controls.chunkDelay);
  }
  if (controls.endDelay) await sleep(controls.endDelay);
  if (!res.destroyed) res.end();
}
