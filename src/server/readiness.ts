// Named readiness conditions; /readyz is 200 only when all hold.
export interface ReadinessState {
  ready: boolean;
  checks: Record<string, { ok: boolean; message?: string }>;
}

export class Readiness {
  readonly #checks = new Map<string, { ok: boolean; message?: string }>();

  set(name: string, ok: boolean, message?: string): void {
    this.#checks.set(name, message === undefined ? { ok } : { ok, message });
  }

  state(): ReadinessState {
    const checks = Object.fromEntries(this.#checks);
    return { ready: [...this.#checks.values()].every((c) => c.ok), checks };
  }
}
