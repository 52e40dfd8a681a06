// A keyed work queue in the manner of client-go's: a key waiting is not added twice, a
// key being worked on is never worked on concurrently (it is redone afterwards if it was
// added meanwhile), failures retry with per-key exponential backoff, and keys can be
// scheduled for later.
export interface WorkQueueOptions<M> {
  workers: number;
  handle: (key: string, meta: M) => Promise<void>;
  /** Combines the metadata of two adds of one key. */
  merge: (a: M, b: M) => M;
  onError?: (key: string, err: unknown, attempt: number) => void;
  minBackoffMs?: number;
  maxBackoffMs?: number;
}

export class WorkQueue<M> {
  readonly #o: Required<Omit<WorkQueueOptions<M>, 'onError'>> & Pick<WorkQueueOptions<M>, 'onError'>;
  readonly #waiting = new Map<string, M>();
  readonly #order: string[] = [];
  readonly #active = new Set<string>();
  readonly #dirty = new Map<string, M>();
  readonly #timers = new Map<string, NodeJS.Timeout>();
  readonly #failures = new Map<string, number>();
  #running = 0;
  #stopped = false;
  #idle: Array<() => void> = [];

  constructor(options: WorkQueueOptions<M>) {
    this.#o = { minBackoffMs: 200, maxBackoffMs: 30_000, ...options };
  }

  get length(): number {
    return this.#waiting.size;
  }

  add(key: string, meta: M): void {
    if (this.#stopped) return;
    if (this.#active.has(key)) {
      const d = this.#dirty.get(key);
      this.#dirty.set(key, d === undefined ? meta : this.#o.merge(d, meta));
      return;
    }
    const w = this.#waiting.get(key);
    if (w !== undefined) {
      this.#waiting.set(key, this.#o.merge(w, meta));
      return;
    }
    this.#waiting.set(key, meta);
    this.#order.push(key);
    this.#pump();
  }

  /** Adds the key after `ms`, unless an earlier schedule for it is already pending. */
  addAfter(key: string, ms: number, meta: M): void {
    if (this.#stopped || this.#timers.has(key)) return;
    const timer = setTimeout(
      () => {
        this.#timers.delete(key);
        this.add(key, meta);
      },
      Math.max(0, ms),
    );
    timer.unref();
    this.#timers.set(key, timer);
  }

  /** Resolves when nothing is waiting or being worked on (scheduled keys do not count). */
  drained(): Promise<void> {
    if (this.#waiting.size === 0 && this.#running === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  stop(): void {
    this.#stopped = true;
    for (const t of this.#timers.values()) clearTimeout(t);
    this.#timers.clear();
    this.#waiting.clear();
    this.#order.length = 0;
    this.#dirty.clear();
    this.#checkIdle();
  }

  #pump(): void {
    while (!this.#stopped && this.#running < this.#o.workers && this.#order.length > 0) {
      const key = this.#order.shift() as string;
      const meta = this.#waiting.get(key);
      if (meta === undefined) continue;
      this.#waiting.delete(key);
      this.#active.add(key);
      this.#running++;
      void this.#work(key, meta);
    }
  }

  async #work(key: string, meta: M): Promise<void> {
    try {
      await this.#o.handle(key, meta);
      this.#failures.delete(key);
    } catch (err) {
      const attempt = (this.#failures.get(key) ?? 0) + 1;
      this.#failures.set(key, attempt);
      this.#o.onError?.(key, err, attempt);
      const backoff = Math.min(this.#o.maxBackoffMs, this.#o.minBackoffMs * 2 ** (attempt - 1));
      this.addAfter(key, backoff, meta);
    } finally {
      this.#active.delete(key);
      this.#running--;
      const dirty = this.#dirty.get(key);
      if (dirty !== undefined) {
        this.#dirty.delete(key);
        this.add(key, dirty);
      }
      this.#pump();
      this.#checkIdle();
    }
  }

  #checkIdle(): void {
    if (this.#waiting.size === 0 && this.#running === 0) {
      const idle = this.#idle;
      this.#idle = [];
      for (const f of idle) f();
    }
  }
}
