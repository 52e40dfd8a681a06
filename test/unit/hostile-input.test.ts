// Property-based tests: whatever arrives, the parser and the key and Lease-name derivation
// answer with a result or a coded error, never a crash and never an admission of a
// malformed request.
import test from 'ava';
import fc from 'fast-check';
import { parseAdmissionReview } from '../../src/admission/review.js';
import { normalizeKey } from '../../src/core/key-normalization.js';
import { isDns1123Label, leaseName } from '../../src/core/lease-name.js';
import { DEFAULT_RULES, MAX_KEY_BYTES, deriveKey } from '../../src/core/rules.js';
import { ErrorCodes, LeaseguardError } from '../../src/errors.js';

const [we] = DEFAULT_RULES as [(typeof DEFAULT_RULES)[0]];
const RUNS = 2000;

/** Any string, including control characters, lone surrogates and astral-plane text. */
const anyString = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 300 }),
  fc.string({ unit: 'grapheme', maxLength: 100 }),
  fc.string(),
);

function wellFormed(over: Record<string, unknown>): Record<string, unknown> {
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: 'u',
      kind: { group: 'kubernaut.ai', version: 'v1alpha1', kind: 'WorkflowExecution' },
      operation: 'CREATE',
      userInfo: { username: 'a' },
      object: {},
      ...over,
    },
  };
}

test('parser: arbitrary JSON values never throw anything but a coded BAD_REQUEST', (t) => {
  fc.assert(
    fc.property(fc.jsonValue({ maxDepth: 6 }), (value) => {
      try {
        parseAdmissionReview(value);
      } catch (err) {
        return (
          err instanceof LeaseguardError &&
          err.code === ErrorCodes.BAD_REQUEST &&
          err.statusCode === 400 &&
          err.message.length > 0
        );
      }
      return true;
    }),
    { numRuns: RUNS },
  );
  t.pass();
});

test('parser: wrong types in every request field are refused with a message naming the field', (t) => {
  const fields = ['uid', 'kind', 'operation', 'name', 'namespace', 'userInfo', 'object', 'oldObject', 'dryRun'];
  const wrong = fc.oneof(
    fc.integer(),
    fc.boolean(),
    fc.array(fc.integer(), { maxLength: 3 }),
    fc.constant({ nested: { deeply: [1] } }),
  );
  fc.assert(
    fc.property(fc.constantFrom(...fields), wrong, (field, value) => {
      const body = wellFormed({ [field]: value });
      try {
        const r = parseAdmissionReview(body);
        // Only values that happen to be valid for the field may pass.
        return (
          (field === 'dryRun' && typeof value === 'boolean') ||
          ((field === 'object' || field === 'oldObject' || field === 'userInfo') &&
            typeof value === 'object' &&
            !Array.isArray(value) &&
            value !== null &&
            r.uid === 'u')
        );
      } catch (err) {
        return (
          err instanceof LeaseguardError &&
          err.code === ErrorCodes.BAD_REQUEST &&
          err.message.includes(field === 'kind' ? 'request.kind' : field)
        );
      }
    }),
    { numRuns: RUNS },
  );
  t.pass();
});

test('parser: deeply nested and huge objects parse or refuse without a stack overflow', (t) => {
  let deep: unknown = 'leaf';
  for (let i = 0; i < 10_000; i++) deep = { a: deep };
  const r = parseAdmissionReview(wellFormed({ object: { metadata: { name: 'x' }, spec: deep } }));
  t.is(r.uid, 'u');
  const wide = Object.fromEntries(Array.from({ length: 50_000 }, (_, i) => [`k${i}`, i]));
  t.is(parseAdmissionReview(wellFormed({ object: wide })).uid, 'u');
});

test('key derivation: any value yields a key within 1 KiB or a reason naming the field', (t) => {
  fc.assert(
    fc.property(
      fc.oneof(anyString, fc.jsonValue({ maxDepth: 3 }), fc.string({ minLength: 1000, maxLength: 1100 })),
      (value) => {
        const r = deriveKey(we, { spec: { targetResource: value } }, 'ns');
        if (r.ok) {
          const ok =
            typeof value === 'string' &&
            value.length > 0 &&
            Buffer.byteLength(value, 'utf8') <= MAX_KEY_BYTES &&
            r.key === value;
          // Normalizing never lengthens a key, and is the rule's own.
          return (
            ok &&
            r.scopedKey === normalizeKey(we.normalize, value) &&
            Buffer.byteLength(r.scopedKey, 'utf8') <= MAX_KEY_BYTES
          );
        }
        return r.field === 'spec.targetResource' && r.message.length > 0;
      },
    ),
    { numRuns: RUNS },
  );
  t.pass();
});

test('key derivation: keys at and past 1 KiB in multi-byte text', (t) => {
  fc.assert(
    fc.property(fc.string({ unit: 'grapheme', minLength: 200, maxLength: 600 }), (s) => {
      const r = deriveKey(we, { spec: { targetResource: s } }, 'ns');
      return r.ok === Buffer.byteLength(s, 'utf8') <= MAX_KEY_BYTES;
    }),
    { numRuns: 500 },
  );
  t.pass();
});

test('Lease names: always a DNS-1123 label of at most 63 characters, stable, and distinct for distinct keys', (t) => {
  fc.assert(
    fc.property(anyString, anyString, (a, b) => {
      const na = leaseName(we, a);
      const nb = leaseName(we, b);
      return isDns1123Label(na) && isDns1123Label(nb) && na === leaseName(we, a) && (a === b) === (na === nb);
    }),
    { numRuns: RUNS },
  );
  t.pass();
});
