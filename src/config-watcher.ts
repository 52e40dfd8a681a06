// Reloads the configuration file when it changes (a ConfigMap update swaps a `..data`
// symlink in its directory): a change that can apply live (config-change.ts) is applied,
// anything else is refused with a log line naming what cannot change, and the running
// configuration keeps serving. The directory is watched, and polled as a backstop.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { watch, type FSWatcher } from 'node:fs';
import { dirname } from 'node:path';
import type { Logger } from 'pino';
import type { Config } from './config.js';
import { configChange } from './core/config-change.js';
import type { Metrics } from './metrics.js';

export interface ConfigWatcherOptions {
  file: string;
  /** Loads the configuration as at start (file, then environment, then flags). */
  load: () => Config;
  /** The configuration now serving. */
  current: Config;
  /** Applies a change config-change.ts allows. */
  apply: (next: Config) => void;
  logger: Logger;
  metrics: Metrics;
  /** Backstop poll; a watch can miss a symlink swap on some filesystems. */
  pollMs?: number;
}

export class ConfigWatcher {
  readonly #o: ConfigWatcherOptions;
  #current: Config;
  #hash: string | undefined;
  #watcher: FSWatcher | undefined;
  #poll: NodeJS.Timeout | undefined;
  #checking: Promise<void> = Promise.resolve();

  constructor(options: ConfigWatcherOptions) {
    this.#o = options;
    this.#current = options.current;
  }

  /** Starts watching; the file's content now is what is serving. */
  async start(): Promise<void> {
    this.#hash = await this.#read().then((t) => (t === undefined ? undefined : hash(t)));
    try {
      this.#watcher = watch(dirname(this.#o.file), { persistent: false }, () => void this.check());
      this.#watcher.on('error', () => this.#watcher?.close());
    } catch {
      // Polling alone.
    }
    this.#poll = setInterval(() => void this.check(), this.#o.pollMs ?? 2000);
    this.#poll.unref();
  }

  stop(): void {
    this.#watcher?.close();
    if (this.#poll) clearInterval(this.#poll);
  }

  /** Looks at the file now; resolves once any change is applied or refused. */
  check(): Promise<void> {
    this.#checking = this.#checking.then(() => this.#check());
    return this.#checking;
  }

  async #read(): Promise<string | undefined> {
    return readFile(this.#o.file, 'utf8').catch(() => undefined);
  }

  async #check(): Promise<void> {
    const text = await this.#read();
    // Mid-swap (no file for a moment): the next event or poll sees the new one.
    if (text === undefined) return;
    const h = hash(text);
    if (h === this.#hash) return;
    this.#hash = h;
    const { logger, metrics, file } = this.#o;
    const refuse = (problems: string[]) => {
      metrics.configReloads.inc({ result: 'refused' });
      logger.error(
        { file, problems },
        `configuration change refused, the running configuration keeps serving: ${problems.join('; ')}`,
      );
    };
    let next: Config;
    try {
      next = this.#o.load();
    } catch (err) {
      refuse([(err as Error).message]);
      return;
    }
    const change = configChange(this.#current, next);
    if (!change.ok) return refuse(change.problems);
    if (change.changes.length === 0) return;
    this.#o.apply(next);
    this.#current = next;
    metrics.configReloads.inc({ result: 'applied' });
    logger.info({ file, changes: change.changes }, `configuration reloaded: ${change.changes.join('; ')}`);
  }
}

const hash = (text: string): string => createHash('sha256').update(text).digest('hex');
