/**
 * A CommonJS dependency loaded when first used rather than at start. Rate limits in Redis, OTLP exports in
 * protobuf, JSON-schema checks and the chi-square test are each used by some servers only; a server that never
 * needs one never holds its code and objects (ioredis alone is about 2.4 MB of heap), which every worker of
 * `serve --workers N` would otherwise pay for (issue 20, peak RSS per worker).
 */
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);

export function onFirstUse<T>(specifier: string): () => T {
  let loaded: T | undefined;
  return () => {
    loaded ??= require(specifier) as T;
    return loaded;
  };
}
