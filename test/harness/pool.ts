/** Calls `fn(i)` for every i in [0, total) with at most `concurrency` calls in flight. */
export async function forEachConcurrently(
  total: number,
  concurrency: number,
  fn: (i: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, total) }, async () => {
      while (next < total) await fn(next++);
    }),
  );
}
