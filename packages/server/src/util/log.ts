/**
 * The one logger: one line per event on stderr, human-readable text by default, one JSON object per line with
 * `INTERSEBD_LOG_FORMAT=json` (pino). Never pass it request headers, bodies or message text: credentials and
 * prompts must not reach logs; fields carry ids and names only.
 */
import { createRequire } from "node:module";
import type { pino as Pino } from "pino";

/**
 * pino, loaded the first time a JSON logger is made: text logs (the default) never need it, nor does the writer
 * thread (writer.ts), whose lines its owner writes. (pino ships CommonJS, so `require` loads it synchronously.)
 */
const loadPino = (): typeof Pino => (createRequire(import.meta.url)("pino") as { pino: typeof Pino }).pino;

export type LogLevel = "silent" | "error" | "warn" | "info" | "debug";
export type LogFormat = "text" | "json";
const ORDER: Record<LogLevel, number> = { silent: 0, error: 1, warn: 2, info: 3, debug: 4 };

/**
 * What a line carries besides its message, in JSON output: `component`, `callId`, counts, names. Scalars only,
 * so that nobody hands it a body or a header object.
 */
export type LogFields = Record<string, string | number | boolean | null | undefined>;

export interface Logger {
  error(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  debug(msg: string, fields?: LogFields): void;
  /**
   * A logger whose lines carry `fields` too (`{ component: "recorder" }`). Optional so that a test's hand-made
   * logger still is one; `childLogger` works on any logger.
   */
  child?(fields: LogFields): Logger;
}

// C0 and C1 control characters, DEL, and the Unicode line and paragraph separators: any of them in a message
// (a decoded path, a header value, a body) could end the line early and forge the next one, or rewrite it.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;
const CONTROLS = new RegExp(CONTROL.source, "g");
const NAMED: Record<string, string> = { "\n": "\\n", "\r": "\\r", "\t": "\\t" };

/**
 * The message as one line: control characters become visible escapes (`\n`, `\u0000`). A stack trace is then
 * one line too, so that every line of the log starts with a time and a level that this process wrote.
 */
export function escapeControl(msg: string): string {
  if (!CONTROL.test(msg)) return msg;
  return msg.replace(
    CONTROLS,
    (c) => NAMED[c] ?? `\\u${(c.codePointAt(0) as number).toString(16).padStart(4, "0")}`,
  );
}

/**
 * The logger at `level`. Text lines (`<ISO time> <level> <message>`) ignore the fields, so the default output is
 * what it always was; JSON lines are `{"level","time","pid","component"?,...fields,"msg"}`.
 */
export function createLogger(
  level: LogLevel,
  write: (line: string) => void = (l) => process.stderr.write(l),
  format: LogFormat = "text",
): Logger {
  const root = format === "json" ? jsonLogger(level, write) : textLogger(level, write);
  return {
    ...root,
    child(fields) {
      return childLogger(this, fields);
    },
  };
}

/**
 * A logger that adds `fields` to every line and hands it to `parent`'s methods (whatever `parent` is: a test may
 * override one of them). Fields given at the call win over the child's.
 */
export function childLogger(parent: Logger, fields: LogFields): Logger {
  const at =
    (l: Exclude<LogLevel, "silent">) =>
    (msg: string, more?: LogFields): void =>
      parent[l](msg, more ? { ...fields, ...more } : fields);
  return {
    error: at("error"),
    warn: at("warn"),
    info: at("info"),
    debug: at("debug"),
    child(more) {
      return childLogger(this, more);
    },
  };
}

type Methods = Omit<Logger, "child">;

function textLogger(level: LogLevel, write: (line: string) => void): Methods {
  const at = (l: Exclude<LogLevel, "silent">) => (msg: string) => {
    if (ORDER[l] <= ORDER[level]) write(`${new Date().toISOString()} ${l.padEnd(5)} ${escapeControl(msg)}\n`);
  };
  return { error: at("error"), warn: at("warn"), info: at("info"), debug: at("debug") };
}

// JSON escapes C0 controls, but not DEL, C1 controls or U+2028/U+2029, which some readers take as line ends. In
// a serialized line they can only be inside strings, where `\uXXXX` is the same character.
const JSON_UNSAFE = /[\u007f-\u009f\u2028\u2029]/g;

function jsonLogger(level: LogLevel, write: (line: string) => void): Methods {
  const pino = loadPino();
  const p = pino(
    {
      level,
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      // Labels, not pino's numbers: `"level":"warn"` reads the same in every log tool.
      formatters: { level: (label) => ({ level: label }) },
    },
    {
      write: (line: string) =>
        write(
          line.replace(
            JSON_UNSAFE,
            (c) => `\\u${(c.codePointAt(0) as number).toString(16).padStart(4, "0")}`,
          ),
        ),
    },
  );
  const at = (l: Exclude<LogLevel, "silent">) => (msg: string, fields?: LogFields) => {
    if (fields) p[l](fields, msg);
    else p[l](msg);
  };
  return { error: at("error"), warn: at("warn"), info: at("info"), debug: at("debug") };
}
