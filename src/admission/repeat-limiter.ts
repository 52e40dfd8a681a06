// Keeps a retry storm from flooding the logs: the first busy denial for a lock in each
// window is logged (with how many were left out since the last one); the rest are only
// counted. Metrics still count every denial. Pure apart from the clock it is given.

export class RepeatLimiter {
  readonly #windowMs: number;
  readonly #maxKeys: number;
  /** key → end of its current window, and denials left out in it. */
  #windows = new Map<string, { until: number; suppressed: number }>();

  constructor(opts: { windowMs?: number; maxKeys?: number } = {}) {
    this.#windowMs = opts.windowMs ?? 1000;
    this.#maxKeys = opts.maxKeys ?? 10_000;
  }

  /**
   * Whether to log this occurrence of `key` at `now` (ms): undefined to leave it out, or
   * how many occurrences were left out since the last logged one.
   */
  take(key: string, now: number): number | undefined {
    const w = this.#windows.get(key);
    if (w && now < w.until) {
      w.suppressed++;
      return undefined;
    }
    const suppressed = w?.suppressed ?? 0;
    if (!w && this.#windows.size >= this.#maxKeys) this.#prune(now);
    this.#windows.set(key, { until: now + this.#windowMs, suppressed: 0 });
    return suppressed;
  }

  /** Drops closed windows; if every window is open (a storm over many keys), starts afresh. */
  #prune(now: number): void {
    for (const [k, w] of this.#windows) if (now >= w.until) this.#windows.delete(k);
    if (this.#windows.size >= this.#maxKeys) this.#windows = new Map();
  }
}
