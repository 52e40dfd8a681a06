import test from 'ava';
import { V1MicroTime } from '@kubernetes/client-node';
import { MicroTime } from '../../src/core/micro-time.js';

const AT = Date.UTC(2026, 10, 22, 12, 0, 0, 123);

test('a MicroTime is written with six fractional digits, the time itself unchanged', (t) => {
  const m = new MicroTime(AT);
  t.is(m.toISOString(), '2026-11-22T12:00:00.123000Z');
  t.is(m.getTime(), AT);
  t.true(m instanceof Date);
});

test('JSON carries the six-digit form (a Lease body as sent)', (t) => {
  t.is(JSON.stringify({ renewTime: new MicroTime(AT) }), '{"renewTime":"2026-11-22T12:00:00.123000Z"}');
});

test("the wire form is client-node's V1MicroTime's", (t) => {
  for (const ms of [0, 1, AT, AT + 877, Date.UTC(1999, 11, 31, 23, 59, 59, 999), Date.UTC(2100, 0, 1)]) {
    t.is(new MicroTime(ms).toISOString(), new V1MicroTime(ms).toISOString(), String(ms));
  }
});
