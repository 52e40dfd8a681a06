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

  /**
   * The value remembered for `key`, or `make()` when there is none; either way `key` is
   * now in the current generation.
   */
  remember(key: K, make: () => V): V {
    let value = this.#now.get(key);
    if (value !== undefined) return value;
    value = this.#before.get(key) ?? make();
    if (this.#now.size >= this.#generationSize) {
      this.#before = this.#now;
      this.#now = new Map();
    }
    this.#now.set(key, value);
    return value;
  }
}
