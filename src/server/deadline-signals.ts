// Abort signals for admission deadlines, shared by the admissions that arrive in the same
// short window. An AbortController and a timer per admission cost more than the rest of
// a busy denial; one per window costs nothing under load. Every admission still gets at
// least `deadlineMs - windowMs` and never more than `deadlineMs`, counted from its
// arrival: reading and parsing its body spend the same deadline as deciding its lock.
import { setMaxListeners } from 'node:events';

const timeout = () => new DOMException('admission deadline passed', 'TimeoutError');

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

  /** The clock arrivals are measured on (performance.now unless injected). */
  now(): number {
    return this.#now();
  }

  /**
   * A signal that aborts (with a TimeoutError) at most `deadlineMs` after `arrivedAt` (on
   * this clock; default now): already aborted when that has passed.
   */
  next(arrivedAt: number = this.#now()): AbortSignal {
    const now = this.#now();
    const left = arrivedAt + this.#deadlineMs - now;
    // Checked by time, not only by the timer: a body parsed past the deadline blocks the
    // event loop, so the timer may not have fired yet.
    if (left <= 0) return AbortSignal.abort(timeout());
    const offset = arrivedAt - this.#windowStart;
    if (this.#signal && offset >= 0 && offset < this.#windowMs) return this.#signal;
    const controller = new AbortController();
    // Every API call in flight in the window listens on it; that is not a leak.
    setMaxListeners(0, controller.signal);
    // The timer is unref'd: an idle process may exit while a deadline is pending.
    setTimeout(() => controller.abort(timeout()), left).unref();
    // A late arrival (a slow body) gets a signal of its own; the shared window moves only forward.
    if (arrivedAt >= this.#windowStart) {
      this.#signal = controller.signal;
      this.#windowStart = arrivedAt;
    }
    return controller.signal;
  }
}
