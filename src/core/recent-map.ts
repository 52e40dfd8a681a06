// A bounded memory of recently used keys, in two generations: a full current generation
// becomes the previous one and the oldest is dropped whole. O(1), and unlike a Map
// trimmed one entry at a time it leaves no deleted slots for V8 to skip over.

export class RecentMap<K, V> {
  readonly #generationSize: number;
  #now = new Map<K, V>();
  #before = new Map<K, V>();

  /** Keeps between `generationSize` and twice that many keys. */
  constructor(generationSize: number) {
    this.#generationSize = generationSize;
  }

  has(key: K): boolean {
    return this.#now.has(key) || this.#before.has(key);
  }

  get(key: K): V | undefined {
    return this.#now.get(key) ?? this.#before.get(key);
  }

  /** Forgets `key` (rare: a deleted slot stays until its generation is dropped). */
  delete(key: K): void {
    this.#now.delete(key);
    this.#before.delete(key);
  }

  /** Remembers `value` for `key` in the current generation, replacing what was there. */
  set(key: K, value: V): void {
    if (!this.#now.has(key)) this.#rotateIfFull();
    this.#now.set(key, value);
  }

  /**
   * The value remembered for `key`, or `make()` when there is none; either way `key` is
   * now in the current generation.
   */
  remember(key: K, make: () => V): V {
    let value = this.#now.get(key);
    if (value !== undefined) return value;
    value = this.#before.get(key) ?? make();
    this.#rotateIfFull();
    this.#now.set(key, value);
    return value;
  }

  #rotateIfFull(): void {
    if (this.#now.size < this.#generationSize) return;
    this.#before = this.#now;
    this.#now = new Map();
  }
}
