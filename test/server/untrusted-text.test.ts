// Input never shapes what leaseguard exposes: metric label values come only from the
// configuration and fixed sets, and text from objects and requests is escaped wherever a
// person reads it (denial messages, the locks table and prompt).
import test from 'ava';
import { MemoryLeaseStore } from '../../src/store/memory-lease-store.js';
import { table } from '../../src/cli/locks-command.js';
import { admissionReview } from '../support/reviews.js';
import { startTestServer } from '../support/webhook-server.js';

test('2,000 distinct unknown kinds (and 50 KB kind names) add no metric series', async (t) => {
  const s = await startTestServer();
  try {
    // leaseguard's own series (Node's process metrics come and go with the garbage collector).
    const own = (text: string) => text.split('\n').filter((l) => l && !l.startsWith('#') && !/^leaseguard_(nodejs|process)_/.test(l));
    const series = async () => own(await s.lg.metrics.registry.metrics()).length;
    // Warm up: the series a guarded and an unguarded request create.
    await s.client.post('/validate', admissionReview({ kind: 'Other', group: 'example.io', key: 'x' }));
    await s.client.post('/mutate', admissionReview({ kind: 'Other', group: 'example.io', key: 'x' }));
    const before = await series();
    const bytesBefore = own(await s.lg.metrics.registry.metrics()).join('\n').length;
    for (let i = 0; i < 2000; i += 50) {
      await Promise.all(
        Array.from({ length: 50 }, (_, j) =>
          Promise.all([
            s.client.post('/validate', admissionReview({ kind: `Kind${i + j}`, group: `g${i + j}.example.io` })),
            s.client.post('/mutate', admissionReview({ kind: `Kind${i + j}`, group: `g${i + j}.example.io` })),
          ]),
        ),
      );
    }
    await s.client.post('/validate', admissionReview({ kind: 'K'.repeat(50_000), group: 'x.io' }));
    t.is(await series(), before, 'no new series');
    const text = own(await s.lg.metrics.registry.metrics()).join('\n');
    t.true(text.length < bytesBefore + 2000, `the scrape did not grow (${bytesBefore} → ${text.length} bytes)`);
    t.regex(text, /leaseguard_admission_requests_total\{webhook="validate",kind="other",operation="CREATE",decision="passed"\} 20\d\d/);
    t.notRegex(text, /Kind1999|KKKK/);
  } finally {
    await s.close();
  }
});

const HOSTILE = 'prod/Deployment/api\u001b[2J\u001b[31mFAKE\r\nLINE\u0007\u009b\u202e';

test('control characters in key, requester and pod come out escaped in a denial message', async (t) => {
  const s = await startTestServer({ store: new MemoryLeaseStore('leaseguard-system') });
  try {
    const first = await s.client.post('/validate', admissionReview({ key: HOSTILE, name: 'we-1', username: 'eve\u001b]0;owned\u0007', pod: 'pod\r\nX-Injected: 1' }));
    t.true(first.json.response.allowed);
    const second = await s.client.post('/validate', admissionReview({ key: HOSTILE, name: 'we-2' }));
    const message: string = second.json.response.status.message;
    t.is(second.json.response.status.code, 409);
    t.notRegex(message, /[\u0000-\u001f\u007f-\u009f\u202e]/, 'no raw control character');
    t.true(message.includes('\\u001b[2J'), message);
    t.true(message.includes('\\u009b') && message.includes('\\u202e'));
    t.true(message.includes('eve\\x1b]0;owned\\x07'), message);
    t.true(message.includes('pod\\x0d\\x0aX-Injected: 1'), message);
    for (const cause of second.json.response.status.details.causes as Array<{ message: string }>) t.notRegex(cause.message, /[\u0000-\u001f\u007f-\u009f]/);
  } finally {
    await s.close();
  }
});

test('the locks table escapes every cell; columns stay aligned', (t) => {
  const out = table([
    { key: HOSTILE, kind: 'WorkflowExecution', holder: 'prod/we-1', holderUid: 'u', requester: 'eve\u0007 (pod p\r\nFAKE)', state: 'bound', age: '1s', acquiredAt: '', lease: 'lg/l' },
  ]);
  t.notRegex(out, /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202e]/, 'no raw control character (newlines only between rows)');
  t.is(out.split('\n').length, 2, 'one header, one row: a CR LF in a cell makes no line');
  t.true(out.includes('\\x1b[2J'));
});
