// The caller check as Kubernetes' x509 authenticator reads a certificate: the user name is
// the last CN (Go's pkix.Name), SANs count only when asked, and any verification error
// or a revoked connection refuses.
import test from 'ava';
import { checkCaller, lastCommonName, type PeerFacts } from '../../src/server/caller-auth.js';

const peer = (o: Partial<PeerFacts> = {}): PeerFacts => ({
  presented: true,
  authorized: true,
  commonName: 'kube-apiserver',
  dnsNames: [],
  issuers: ['CA'],
  ...o,
});
const policy = { subjects: ['kube-apiserver'] };

test('the last CN is the user name, as Go reads several', (t) => {
  t.is(lastCommonName(['kube-apiserver', 'mallory']), 'mallory');
  t.is(lastCommonName(['mallory', 'kube-apiserver']), 'kube-apiserver');
  t.is(lastCommonName('kube-apiserver'), 'kube-apiserver');
  t.is(lastCommonName([]), undefined);
  t.is(lastCommonName(undefined), undefined);
});

test('a verified certificate with the allowed user name passes; any subject passes when none is configured', (t) => {
  t.deepEqual(checkCaller(peer(), policy), { ok: true, subject: 'kube-apiserver' });
  t.true(checkCaller(peer({ commonName: 'anyone' }), { subjects: [] }).ok);
});

test('a DNS SAN matches only with matchSans', (t) => {
  const san = peer({ commonName: 'mallory', dnsNames: ['kube-apiserver'] });
  t.like(checkCaller(san, policy), { ok: false, reason: 'subject-not-allowed', subject: 'mallory' });
  t.like(checkCaller(san, { ...policy, matchSans: true }), { ok: true });
  t.like(checkCaller(peer({ commonName: undefined, dnsNames: ['kube-apiserver'] }), policy), {
    ok: false,
    reason: 'subject-not-allowed',
  });
});

test('a verification error refuses even when the socket says authorized', (t) => {
  t.like(checkCaller(peer({ authorizationError: 'DEPTH_ZERO_SELF_SIGNED_CERT' }), policy), {
    ok: false,
    reason: 'untrusted-certificate',
  });
  t.like(checkCaller(peer({ authorized: false }), policy), { ok: false, reason: 'untrusted-certificate' });
  t.like(checkCaller(peer({ presented: false, commonName: undefined }), policy), {
    ok: false,
    reason: 'no-certificate',
  });
});

test('a connection revoked by a client CA change is refused', (t) => {
  t.like(checkCaller(peer({ revoked: 'the CA changed' }), policy), {
    ok: false,
    reason: 'untrusted-certificate',
    detail: 'the CA changed',
  });
});
