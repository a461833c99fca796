/**
 * A minimal leveled logger writing one line per event to stderr. Never pass it request headers:
 * credentials must not reach logs.
 */
export type LogLevel = "silent" | "error" | "warn" | "info" | "debug";
const ORDER: Record<LogLevel, number> = { silent: 0, error: 1, warn: 2, info: 3, debug: 4 };

export interface Logger {
  error(msg: string): void;
  warn(msg: string): void;
  info(msg: string): void;
  debug(msg: string): void;
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

export function createLogger(
  level: LogLevel,
  write: (line: string) => void = (l) => process.stderr.write(l),
): Logger {
  const at = (l: Exclude<LogLevel, "silent">) => (msg: string) => {
    if (ORDER[l] <= ORDER[level]) write(`${new Date().toISOString()} ${l.padEnd(5)} ${escapeControl(msg)}\n`);
  };
  return { error: at("error"), warn: at("warn"), info: at("info"), debug: at("debug") };
}
