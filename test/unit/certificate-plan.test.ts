import test from 'ava';
import { planCertificates, type RenewReason, type SecretFacts } from '../../src/tls/certificate-plan.js';

const L = 90_000; // lifetime
const NOW = 1_000_000;
const ca = (fingerprint: string, notAfterMs: number) => ({ fingerprint, notBeforeMs: 0, notAfterMs });
const serving = (over: Partial<NonNullable<SecretFacts['serving']>> = {}) => ({
  fingerprint: 's',
  notBeforeMs: 0,
  notAfterMs: NOW + L,
  issuer: 'ca1',
  namesMatch: true,
  keyMatches: true,
  ...over,
});
const healthy = (over: Partial<SecretFacts> = {}): SecretFacts => ({
  cas: [ca('ca1', NOW + 4 * L)],
  caKeyMatches: true,
  serving: serving(),
  ...over,
});

const rows: Array<
  [
    string,
    SecretFacts | undefined,
    { newCa: boolean; newServing: boolean; reason?: RenewReason; servable: boolean; keep?: string[] },
  ]
> = [
  ['no Secret', undefined, { newCa: true, newServing: true, reason: 'missing', servable: false, keep: [] }],
  ['a healthy Secret', healthy(), { newCa: false, newServing: false, servable: true, keep: ['ca1'] }],
  [
    'a serving certificate with a third of its life left',
    healthy({ serving: serving({ notAfterMs: NOW + L / 3 + 1 }) }),
    { newCa: false, newServing: false, servable: true },
  ],
  [
    'a serving certificate with less than a third left',
    healthy({ serving: serving({ notAfterMs: NOW + L / 3 - 1 }) }),
    { newCa: false, newServing: true, reason: 'expiring', servable: true },
  ],
  [
    'an expired serving certificate',
    healthy({ serving: serving({ notAfterMs: NOW - 1 }) }),
    { newCa: false, newServing: true, reason: 'expiring', servable: false },
  ],
  [
    'a serving certificate not valid yet',
    healthy({ serving: serving({ notBeforeMs: NOW + 1 }) }),
    { newCa: false, newServing: true, reason: 'not-yet-valid', servable: false },
  ],
  [
    'a serving key that does not match',
    healthy({ serving: serving({ keyMatches: false }) }),
    { newCa: false, newServing: true, reason: 'key-mismatch', servable: false },
  ],
  [
    'a serving certificate from an older CA in the bundle',
    healthy({ cas: [ca('ca2', NOW + 4 * L), ca('ca1', NOW + L)] }),
    { newCa: false, newServing: true, reason: 'issuer-changed', servable: true, keep: ['ca2', 'ca1'] },
  ],
  [
    'a serving certificate no CA in the bundle signed',
    healthy({ serving: serving({ issuer: undefined }) }),
    { newCa: false, newServing: true, reason: 'issuer-changed', servable: false },
  ],
  [
    'a serving certificate without the Service name',
    healthy({ serving: serving({ namesMatch: false }) }),
    { newCa: false, newServing: true, reason: 'names-changed', servable: true },
  ],
  [
    'no serving certificate',
    healthy({ serving: undefined }),
    { newCa: false, newServing: true, reason: 'missing', servable: false },
  ],
  [
    'a CA with two lifetimes left',
    healthy({ cas: [ca('ca1', NOW + 2 * L)] }),
    { newCa: false, newServing: false, servable: true },
  ],
  [
    'a CA with less than two lifetimes left',
    healthy({ cas: [ca('ca1', NOW + 2 * L - 1)] }),
    { newCa: true, newServing: true, reason: 'ca-expiring', servable: true, keep: ['ca1'] },
  ],
  [
    'a CA key that does not match',
    healthy({ caKeyMatches: false }),
    { newCa: true, newServing: true, reason: 'ca-key-mismatch', servable: true },
  ],
  [
    'an empty bundle',
    healthy({ cas: [] }),
    { newCa: true, newServing: true, reason: 'missing', servable: true, keep: [] },
  ],
  [
    'a signer leaseguard did not issue (not in its record)',
    healthy({
      cas: [
        { ...ca('ca1', NOW + 4 * L), issued: false },
        { ...ca('ca0', NOW + 4 * L), issued: true },
      ],
    }),
    { newCa: true, newServing: true, reason: 'ca-not-issued', servable: false, keep: ['ca0'] },
  ],
  [
    'an older CA leaseguard did not issue leaves the bundle',
    healthy({
      cas: [
        { ...ca('ca1', NOW + 4 * L), issued: true },
        { ...ca('planted', NOW + 4 * L), issued: false },
      ],
    }),
    { newCa: false, newServing: false, servable: true, keep: ['ca1'] },
  ],
  [
    'an expired older CA leaves the bundle',
    healthy({ cas: [ca('ca2', NOW + 4 * L), ca('ca1', NOW - 1)], serving: serving({ issuer: 'ca2' }) }),
    { newCa: false, newServing: false, servable: true, keep: ['ca2'] },
  ],
];

for (const [name, facts, want] of rows) {
  test(`certificate plan: ${name}`, (t) => {
    const plan = planCertificates(facts, NOW, L);
    t.is(plan.newCa, want.newCa, 'newCa');
    t.is(plan.newServing, want.newServing, 'newServing');
    t.is(plan.reason, want.reason, 'reason');
    t.is(plan.servable, want.servable, 'servable');
    if (want.keep) t.deepEqual(plan.keep, want.keep, 'keep');
  });
}

test('certificate plan: a certificate the plan issues is not renewed again until a third of its life remains', (t) => {
  // Issued now: CA for 4 lifetimes, serving for one. Walk the clock forward.
  const facts: SecretFacts = {
    cas: [ca('ca1', 4 * L)],
    caKeyMatches: true,
    serving: serving({ notAfterMs: L, notBeforeMs: 0 }),
  };
  const firstRenewal = [...Array(100).keys()]
    .map((i) => (i * L) / 100)
    .find((at) => planCertificates(facts, at, L).newServing);
  t.is(firstRenewal, (67 * L) / 100);
});
