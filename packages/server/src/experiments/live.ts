/**
 * The experiments the proxy routes by, held in memory: loaded from the store at start, reloaded every
 * `INTERSEBD_EXPERIMENTS_REFRESH_MS` (so another instance's change is seen within that) and at once after a change
 * through this instance's API. The proxy reads it synchronously; nothing on the request path waits on the store.
 * A failed reload keeps the last view and is logged once until one succeeds again: routing never fails a request
 * because the store is away.
 */
import type { Store } from "../store/index.ts";
import type { Logger } from "../util/log.ts";
import { listExperiments } from "./book.ts";
import type { ExperimentLookup } from "./router.ts";
import type { Experiment } from "./schemas.ts";

const MATCHING = new Set(["shadow", "running", "promoted"]);

export interface LiveOptions {
  refreshMs: number;
  /** Names of the configured upstreams. */
  upstreams: Iterable<string>;
  log: Logger;
  /** Where definitions come from (tests put a failing one here); default: the store. */
  load?: () => Promise<Experiment[]>;
}

export class LiveExperiments implements ExperimentLookup {
  #byName = new Map<string, Experiment>();
  #matchable: Experiment[] = [];
  readonly #upstreams: Set<string>;
  readonly #load: () => Promise<Experiment[]>;
  readonly #log: Logger;
  readonly #refreshMs: number;
  #timer: NodeJS.Timeout | undefined;
  #inFlight: Promise<void> | undefined;
  #queued: Promise<void> | undefined;
  #failing = false;
  /** Experiments whose stored definition could not be read (logged once each). */
  readonly #broken = new Set<string>();

  constructor(store: Store, opts: LiveOptions) {
    this.#upstreams = new Set(opts.upstreams);
    // One unreadable definition is left out (and logged once), not a reason to stop seeing every other change.
    this.#load =
      opts.load ??
      (() =>
        listExperiments(store, (name, err) => {
          if (this.#broken.has(name)) return;
          this.#broken.add(name);
          this.#log.error(`experiments: ${name} is left out of routing: ${String(err)}`);
        }));
    this.#log = opts.log;
    this.#refreshMs = opts.refreshMs;
  }

  /** Loads the view and starts the periodic reload. A store that does not answer yet leaves the view empty. */
  async start(): Promise<void> {
    await this.refresh();
    this.#timer = setInterval(() => void this.refresh(), this.#refreshMs);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  /** True when no experiment exists: the proxy's hot path is then exactly as without experiments. */
  get empty(): boolean {
    return this.#byName.size === 0;
  }

  /** True when some experiment applies by its `match` filter: every chat request's body must be read. */
  get matching(): boolean {
    return this.#matchable.length > 0;
  }

  byName(name: string): Experiment | undefined {
    return this.#byName.get(name);
  }

  matchable(): readonly Experiment[] {
    return this.#matchable;
  }

  hasUpstream(name: string): boolean {
    return this.#upstreams.has(name);
  }

  /**
   * Reloads the view; never rejects. A reload asked while one runs runs after it (once for all who asked), so
   * the view a caller awaits was read after its change.
   */
  refresh(): Promise<void> {
    if (this.#inFlight) {
      this.#queued ??= this.#inFlight.then(() => {
        this.#queued = undefined;
        return this.refresh();
      });
      return this.#queued;
    }
    this.#inFlight = this.#reload().finally(() => {
      this.#inFlight = undefined;
    });
    return this.#inFlight;
  }

  async #reload(): Promise<void> {
    let all: Experiment[];
    try {
      all = await this.#load();
    } catch (err) {
      if (!this.#failing)
        this.#log.warn(`experiments: reload failed, routing by the last view: ${String(err)}`);
      this.#failing = true;
      return;
    }
    if (this.#failing) this.#log.info("experiments: reloading works again");
    this.#failing = false;
    this.#set(all);
  }

  /** Replaces the view (the reload's, or a test's). */
  #set(all: Experiment[]): void {
    this.#byName = new Map(all.map((e) => [e.name, e]));
    // Oldest first: an experiment created later does not take over requests an earlier one already routes.
    this.#matchable = all
      .filter((e) => e.match && MATCHING.has(e.status))
      .sort((a, b) => a.createdAt - b.createdAt || (a.name < b.name ? -1 : 1));
  }
}
