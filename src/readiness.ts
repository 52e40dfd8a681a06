// Named readiness conditions. /readyz is 200 only when every critical one holds; the
// others (watch health) are reported in the body without taking the replica out of the
// Service, because admission stays safe without them.
export interface Check {
  ok: boolean;
  critical: boolean;
  message?: string;
}

export interface ReadinessState {
  ready: boolean;
  checks: Record<string, Check>;
}

export class Readiness {
  readonly #checks = new Map<string, Check>();

  set(name: string, ok: boolean, message?: string, options: { critical?: boolean } = {}): void {
    const critical = options.critical ?? true;
    this.#checks.set(name, message === undefined ? { ok, critical } : { ok, critical, message });
  }

  delete(name: string): void {
    this.#checks.delete(name);
  }

  /** Whether every critical condition holds (state().ready, without building the body). */
  ready(): boolean {
    for (const c of this.#checks.values()) if (!c.ok && c.critical) return false;
    return true;
  }

  state(): ReadinessState {
    const checks = Object.fromEntries(this.#checks);
    return { ready: [...this.#checks.values()].every((c) => c.ok || !c.critical), checks };
  }
}
