import test from 'ava';
import { RecentMap } from '../../src/core/recent-map.js';

test('remembers a made value and makes it once', (t) => {
  const m = new RecentMap<string, number>(4);
  let made = 0;
  const make = () => ++made;
  t.is(m.remember('a', make), 1);
  t.is(m.remember('a', make), 1);
  t.is(made, 1);
  t.true(m.has('a'));
  t.false(m.has('b'));
});

test('a full generation becomes the previous one; the one before it is dropped whole', (t) => {
  const m = new RecentMap<string, string>(2);
  for (const k of ['a', 'b']) m.remember(k, () => k);
  m.remember('c', () => 'c'); // current was full: [a b] is now the previous generation
  t.true(m.has('a') && m.has('b') && m.has('c'));
  m.remember('d', () => 'd');
  m.remember('e', () => 'e'); // [c d] full: [a b] dropped
  t.false(m.has('a'));
  t.false(m.has('b'));
  t.true(m.has('c') && m.has('d') && m.has('e'));
});

test('a key found in the previous generation keeps its value and moves to the current one', (t) => {
  const m = new RecentMap<string, string>(2);
  m.remember('a', () => 'first');
  m.remember('b', () => 'b');
  m.remember('c', () => 'c'); // [a b] previous
  t.is(
    m.remember('a', () => 'second'),
    'first',
  );
  m.remember('d', () => 'd'); // [c a] full: [a b] dropped, but a lives on in [c a]
  m.remember('e', () => 'e');
  t.true(m.has('a'));
  t.false(m.has('b'));
});

test('set replaces a value; get finds it in either generation, and the newest wins', (t) => {
  const m = new RecentMap<string, string>(2);
  m.set('a', 'one');
  m.set('a', 'two'); // a replacement takes no new slot
  m.set('b', 'b');
  t.is(m.get('a'), 'two');
  m.set('c', 'c'); // [a b] previous
  t.is(m.get('a'), 'two');
  m.set('a', 'three'); // current [c a]; the previous still holds a's old value
  t.is(m.get('a'), 'three');
  t.is(m.get('zzz'), undefined);
  m.delete('a');
  t.is(m.get('a'), undefined, 'deleted from both generations');
});

test('set on a full generation replaces in place: no rotation, nothing dropped early', (t) => {
  const m = new RecentMap<string, string>(2);
  m.set('a', 'a');
  m.set('b', 'b'); // current [a b] is full
  m.set('b', 'b2'); // a replacement: still [a b]
  m.set('c', 'c'); // rotates: [a b] previous, [c] current
  m.set('d', 'd'); // [c d]: no rotation yet, a still remembered
  t.is(m.get('a'), 'a');
  t.is(m.get('b'), 'b2');
  m.set('e', 'e'); // [c d] full: [a b] dropped
  t.false(m.has('a'));
});
