// The targets, as ratios taken round by round (a mode against its baseline in the same
// round, so drift on the machine between rounds cancels), then the median with its spread.
import type { Cell, Mode, Point } from './guarded-create.js';
import { spread, type Spread } from './stats.js';
import type { AloneRow } from './webhook-alone.js';

export interface Target {
  name: string;
  value: Spread;
  unit: string;
  target: string;
  met: boolean;
}

const cpuOf = (c: Cell) => Object.values(c.cpuMs).reduce((a, b) => a + b, 0);

/** f(leaseguard's cell, the baseline's cell) for every round that has both. */
function perRound(
  cells: Cell[],
  point: Point | undefined,
  baseline: Mode,
  f: (lg: Cell, base: Cell) => number,
): Spread {
  const mine = cells.filter((c) => c.point === point?.name);
  const rounds = [...new Set(mine.map((c) => c.round))];
  const values = rounds.flatMap((r) => {
    const lg = mine.find((c) => c.round === r && c.mode === 'leaseguard');
    const base = mine.find((c) => c.round === r && c.mode === baseline);
    return lg && base ? [f(lg, base)] : [];
  });
  return spread(values);
}

export function targets(cells: Cell[], alone: AloneRow[], points: Point[]): Target[] {
  const open = points.find((p) => p.rate !== undefined && p.replicas === 3);
  // Every closed-loop point with one replica: the shipped Lease format's, and any other format's beside it.
  const closedPoints = points.filter((p) => p.clients !== undefined && p.replicas === 1);
  const out: Target[] = [];
  const atMost = (name: string, value: Spread, unit: string, limit: number) =>
    out.push({ name, value, unit, target: `≤ ${limit}`, met: value.median <= limit });
  const atLeast = (name: string, value: Spread, unit: string, limit: number) =>
    out.push({ name, value, unit, target: `≥ ${limit}`, met: value.median >= limit });
  // CPU of every process taking part (API server, etcd, each replica) over the floor's (API server, etcd).
  const cpuRatio = (lg: Cell, floor: Cell) => cpuOf(lg) / cpuOf(floor);
  if (open) {
    atMost(`CPU per guarded create vs the floor's, ${open.name}`, perRound(cells, open, 'floor', cpuRatio), '×', 1.3);
    atMost(
      `added P99 over no webhook, ${open.name}`,
      perRound(cells, open, 'no webhook', (lg, none) => lg.result.p99 - none.result.p99),
      'ms',
      10,
    );
  }
  for (const closed of closedPoints) {
    atMost(
      `CPU per guarded create vs the floor's, ${closed.name}`,
      perRound(cells, closed, 'floor', cpuRatio),
      '×',
      1.3,
    );
    atLeast(
      `throughput vs the floor's, ${closed.name}`,
      perRound(cells, closed, 'floor', (lg, floor) => lg.result.throughput / floor.result.throughput),
      '×',
      0.75,
    );
  }
  const rounds = [...new Set(alone.map((r) => r.round))];
  const aloneRatio = spread(
    rounds.flatMap((r) => {
      const lg = alone.find((x) => x.round === r && x.server === 'leaseguard');
      const noop = alone.find((x) => x.round === r && x.server === 'no-op');
      return lg && noop ? [lg.result.throughput / noop.result.throughput] : [];
    }),
  );
  if (aloneRatio.n > 0)
    atLeast(
      `the webhook alone, new keys: rate vs a no-op koa handler's (${alone[0]!.concurrency} clients)`,
      aloneRatio,
      '×',
      0.8,
    );
  return out;
}
