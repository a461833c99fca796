/**
 * The SSE decoder on the line endings and fields the WHATWG event-stream format allows (LF, CRLF and CR, mixed in
 * one chunk; comments; `event:`; multi-line data), whole and split at every character.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { SseDecoder, type SseEvent } from "./index.ts";

function decode(pieces: string[]): SseEvent[] {
  const events: SseEvent[] = [];
  const decoder = new SseDecoder((e) => events.push(e));
  for (const p of pieces) decoder.feed(p);
  decoder.end();
  return events;
}

/** Every way of cutting `text` in two, and the text whole. */
function cuts(text: string): string[][] {
  return [
    [text],
    ...Array.from({ length: text.length - 1 }, (_, i) => [text.slice(0, i + 1), text.slice(i + 1)]),
  ];
}

describe("SseDecoder", () => {
  it("reads LF, CRLF and CR line endings, mixed in one chunk, however it is cut", { timeout: 10_000 }, () => {
    // A CR-only line after LF ones, then LF again: the decoder's remembered CR and LF positions must both move on.
    const text =
      'data: {"a":1}\n\ndata: {"b":2}\r\rdata: {"c":3}\r\n\r\n: a comment\nevent: done\ndata: x\ndata: y\n\n';
    const expected = [
      { event: null, data: '{"a":1}' },
      { event: null, data: '{"b":2}' },
      { event: null, data: '{"c":3}' },
      { event: "done", data: "x\ny" },
    ];
    for (const pieces of cuts(text)) assert.deepEqual(decode(pieces), expected, JSON.stringify(pieces));
  });

  it("dispatches a last event without its blank line at the end, and skips a BOM and dataless events", () => {
    assert.deepEqual(decode(["\ufeffevent: ping\n\n", "data:no space\r"]), [
      { event: null, data: "no space" },
    ]);
  });

  it("reads many lines of one large chunk (a long stream's body arriving at once)", () => {
    const text = Array.from({ length: 5000 }, (_, i) => `data: ${i}\n\n`).join("");
    const events = decode([text]);
    assert.equal(events.length, 5000);
    assert.equal(events.at(-1)?.data, "4999");
  });
});
