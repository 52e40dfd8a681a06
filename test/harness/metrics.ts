// Reading a Prometheus text page, as a scraper would.

/** The sum of one metric's samples whose labels include `labels`; NaN when there are none. */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  let seen = false;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== ' ' && rest[0] !== '{') continue;
    if (!Object.entries(labels).every(([k, v]) => rest.includes(`${k}="${v}"`))) continue;
    sum += Number(line.split(' ').pop());
    seen = true;
  }
  return seen ? sum : NaN;
}
