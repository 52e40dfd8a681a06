// Runs what a serving replica runs, as controller-runtime's manager runs its Runnables:
// each component says whether it runs on every replica or only while this replica leads.
// Components start in the order given and stop in the reverse order. Leader election
// starts where the first leader-only component stands; it starts those components when
// leadership is gained and stops them when it is lost, strictly in the order decided.
import type { Logger } from 'pino';

export type Runs = 'every-replica' | 'while-leading';

export interface StopOptions {
  /** Skip the delays a graceful stop takes (an interactive Ctrl-C). */
  immediate?: boolean;
}

export interface Runnable {
  name: string;
  runs: Runs;
  start(): void | Promise<void>;
  stop(options: StopOptions): void | Promise<void>;
}

/** Leadership among replicas: tells the runner when this replica gains and loses it. */
export interface Election {
  start(on: { started(): void; stopped(): void }): void;
  /** Gives leadership up; `stopped` is told first when leading. */
  stop(): Promise<void>;
}

export interface RunnerOptions {
  components: readonly Runnable[];
  /** Without one, this replica is the only one and leads from the start. */
  election?: Election;
  logger: Logger;
}

export class Runner {
  readonly #o: RunnerOptions;
  readonly #leading: readonly Runnable[];
  /** What has started, in order: every-replica components and the election. */
  readonly #started: Runnable[] = [];
  /** Leadership transitions, run one after another. */
  #transitions: Promise<void> = Promise.resolve();
  /** Whether the last transition started the leader-only components. */
  #leadingStarted = false;

  constructor(options: RunnerOptions) {
    this.#o = options;
    this.#leading = options.components.filter((c) => c.runs === 'while-leading');
  }

  /** Starts every component in order; on a failure stops those started and throws. */
  async start(): Promise<void> {
    let electing = false;
    try {
      for (const c of this.#o.components) {
        if (c.runs === 'while-leading') {
          if (!electing) this.#started.push(this.#election());
          electing = true;
          continue;
        }
        await c.start();
        this.#started.push(c);
      }
    } catch (err) {
      await this.stop({ immediate: true });
      throw err;
    }
  }

  /** Stops what started, in reverse order; a component that fails to stop is logged and passed. */
  async stop(options: StopOptions = {}): Promise<void> {
    while (this.#started.length > 0) {
      const c = this.#started.pop()!;
      try {
        await c.stop(options);
      } catch (err) {
        this.#o.logger.error({ err: (err as Error).message, component: c.name }, 'a component failed to stop');
      }
    }
  }

  #transition(leading: boolean): void {
    const step = async (c: Runnable) => {
      try {
        await (leading ? c.start() : c.stop({}));
      } catch (err) {
        this.#o.logger.error(
          { err: (err as Error).message, component: c.name },
          leading ? `${c.name} failed to start` : `${c.name} failed to stop`,
        );
      }
    };
    const order = leading ? this.#leading : [...this.#leading].reverse();
    this.#transitions = this.#transitions.then(async () => {
      for (const c of order) await step(c);
      this.#leadingStarted = leading;
    });
  }

  /** The election as a component: started where the first leader-only component stands. */
  #election(): Runnable {
    const election = this.#o.election;
    if (!election) {
      this.#transition(true);
      return {
        name: 'leading',
        runs: 'every-replica',
        start: () => {},
        stop: async () => {
          this.#transition(false);
          await this.#transitions;
        },
      };
    }
    election.start({ started: () => this.#transition(true), stopped: () => this.#transition(false) });
    return {
      name: 'leader-election',
      runs: 'every-replica',
      start: () => {},
      stop: async () => {
        await election.stop();
        await this.#transitions;
        // Giving leadership up stops them; should the election not have said so, stop them here.
        if (this.#leadingStarted) {
          this.#transition(false);
          await this.#transitions;
        }
      },
    };
  }
}
