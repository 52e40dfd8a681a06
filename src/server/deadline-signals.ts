// Abort signals for admission deadlines, shared by the admissions that arrive in the same
// short window. An AbortController and a timer per admission cost more than the rest of
// a busy denial; one per window costs nothing under load. Every admission still gets at
// least `deadlineMs - windowMs` and never more than `deadlineMs`.
import { setMaxListeners } from 'node:events';

export class DeadlineSignals {
  readonly #deadlineMs: number;
  readonly #windowMs: number;
  readonly #now: () => number;
  #signal: AbortSignal | undefined;
  #windowStart = -Infinity;

  constructor(deadlineMs: number, opts: { windowMs?: number; now?: () => number } = {}) {
    this.#deadlineMs = deadlineMs;
    // A window is a small share of the deadline, so no admission loses much of it.
    this.#windowMs = Math.max(0, Math.min(opts.windowMs ?? 25, Math.floor(deadlineMs / 20)));
    this.#now = opts.now ?? (() => performance.now());
  }

  /** A signal that aborts (with a TimeoutError) at most `deadlineMs` from now. */
  next(): AbortSignal {
    const now = this.#now();
    if (this.#signal && now - this.#windowStart < this.#windowMs) return this.#signal;
    const controller = new AbortController();
    // Every API call in flight in the window listens on it; that is not a leak.
    setMaxListeners(0, controller.signal);
    // The timer is unref'd: an idle process may exit while a deadline is pending.
    setTimeout(() => controller.abort(new DOMException('admission deadline passed', 'TimeoutError')), this.#deadlineMs).unref();
    this.#signal = controller.signal;
    this.#windowStart = now;
    return controller.signal;
  }
}
