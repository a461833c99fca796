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

export function createLogger(
  level: LogLevel,
  write: (line: string) => void = (l) => process.stderr.write(l),
): Logger {
  const at = (l: Exclude<LogLevel, "silent">) => (msg: string) => {
    if (ORDER[l] <= ORDER[level]) write(`${new Date().toISOString()} ${l.padEnd(5)} ${msg}\n`);
  };
  return { error: at("error"), warn: at("warn"), info: at("info"), debug: at("debug") };
}
