/**
 * The one error type that becomes a client-facing HTTP response. Anything else thrown is a bug:
 * logged, and answered with a 500 that reveals nothing.
 */
export class HttpError extends Error {
  override name = "HttpError";
  readonly status: number;
  readonly field: string | undefined;
  readonly code: string;
  constructor(status: number, message: string, opts: { field?: string; code?: string } = {}) {
    super(message);
    this.status = status;
    this.field = opts.field;
    this.code = opts.code ?? defaultCode(status);
  }

  /** The JSON body, in the shape OpenAI clients already know how to read (`error.message`). */
  toJSON() {
    return {
      error: { message: this.message, type: "intersebd_error", code: this.code, field: this.field ?? null },
    };
  }
}

function defaultCode(status: number): string {
  switch (status) {
    case 400:
      return "invalid_request";
    case 401:
      return "unauthorized";
    case 403:
      return "forbidden";
    case 404:
      return "not_found";
    case 413:
      return "payload_too_large";
    case 502:
      return "upstream_unreachable";
    case 504:
      return "upstream_timeout";
    default:
      return "error";
  }
}
