// The lock a Lease records, in whichever format it was written: tests read Leases through
// the codec, never by annotation name, so they hold for every format.
import { decodeRecord, type LockRecord, type ReadonlyLease } from '../../src/core/lock-record.js';

export function lockOf(lease: ReadonlyLease | null | undefined): LockRecord | undefined {
  return lease ? decodeRecord(lease) : undefined;
}
