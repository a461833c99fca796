/**
 * Server-sent events, as the HTML standard defines them and as OpenAI-compatible servers send them: lines end
 * in LF, CRLF or CR (even split across two reads), `:` starts a comment (keep-alives such as
 * `: OPENROUTER PROCESSING`), `data:` lines of one event are joined with LF, a blank line ends the event.
 */

export interface SseEvent {
  /** The `event:` field, or null (every chat completion chunk comes without one). */
  event: string | null;
  data: string;
}

export class SseDecoder {
  #rest = "";
  #data: string[] = [];
  #event: string | null = null;
  #started = false;
  readonly #onEvent: (event: SseEvent) => void;

  constructor(onEvent: (event: SseEvent) => void) {
    this.#onEvent = onEvent;
  }

  /** Feeds decoded text; whole lines are read now, a partial one waits for the next call. */
  feed(text: string): void {
    if (!this.#started && text) {
      this.#started = true;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    const buf = this.#rest + text;
    let pos = 0;
    // The next LF and CR at or after `pos`, searched again only once passed: searching for a CR a stream never
    // sends (most send LF only) from every line scanned the rest of the chunk each time, quadratic in its length.
    let lf = -2;
    let cr = -2;
    while (pos < buf.length) {
      if (lf !== -1 && lf < pos) lf = buf.indexOf("\n", pos);
      if (cr !== -1 && cr < pos) cr = buf.indexOf("\r", pos);
      if (lf === -1 && cr === -1) break;
      if (cr !== -1 && (lf === -1 || cr < lf)) {
        // A CR last in this read may be the first half of a CRLF: wait for the next read to tell.
        if (cr === buf.length - 1) break;
        this.#line(buf.slice(pos, cr));
        pos = buf.charCodeAt(cr + 1) === 10 ? cr + 2 : cr + 1;
      } else {
        this.#line(buf.slice(pos, lf));
        pos = lf + 1;
      }
    }
    this.#rest = pos === 0 ? buf : buf.slice(pos);
  }

  /**
   * The body ended. An event not closed by a blank line is still delivered (the standard would drop it):
   * a record keeps what the server sent, and a last `data: [DONE]` without its blank line still means done.
   */
  end(): void {
    const rest = this.#rest.endsWith("\r") ? this.#rest.slice(0, -1) : this.#rest;
    this.#rest = "";
    if (rest) this.#line(rest);
    this.#dispatch();
  }

  #line(line: string): void {
    if (line === "") {
      this.#dispatch();
      return;
    }
    if (line.charCodeAt(0) === 58 /* : */) return;
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? "" : line.slice(colon + 1);
    if (value.charCodeAt(0) === 32) value = value.slice(1);
    if (field === "data") this.#data.push(value);
    else if (field === "event") this.#event = value;
  }

  #dispatch(): void {
    if (this.#data.length === 0) {
      this.#event = null;
      return;
    }
    const event = { event: this.#event, data: this.#data.join("\n") };
    this.#data = [];
    this.#event = null;
    this.#onEvent(event);
  }
}
