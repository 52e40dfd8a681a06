// A replica with a skewed wall clock: libfaketime preloaded with a fixed offset (it
// shifts CLOCK_MONOTONIC by a constant too, which changes no difference of two readings).
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

function findLibfaketime(): string | undefined {
  const candidates = ['/usr/lib/faketime/libfaketime.so.1', '/usr/local/lib/faketime/libfaketime.so.1'];
  try {
    for (const dir of readdirSync('/usr/lib')) candidates.unshift(join('/usr/lib', dir, 'faketime/libfaketime.so.1'));
  } catch {
    // no /usr/lib: nothing to find there
  }
  return candidates.find((c) => existsSync(c));
}

export const LIBFAKETIME = process.env.LEASEGUARD_LIBFAKETIME ?? findLibfaketime();

/** Why the clock-skew tests cannot run here, or undefined when they can. */
export const FAKETIME_MISSING = LIBFAKETIME
  ? undefined
  : 'libfaketime is not installed (Debian package faketime; `npm test` installs it where it runs as root with apt-get)';

/** Environment that runs a process with its wall clock `offset` off, e.g. "+90s", "-90s", "+10m". */
export function skewedClock(offset: string): Record<string, string> {
  if (!LIBFAKETIME) throw new Error(FAKETIME_MISSING);
  return { LD_PRELOAD: LIBFAKETIME, FAKETIME: offset };
}
