// A Lease's times (acquireTime, renewTime) are MicroTime: RFC 3339 with six fractional
// digits. The same wire form as client-node's V1MicroTime, without loading the client
// into the core.
export class MicroTime extends Date {
  override toISOString(): string {
    return super.toISOString().slice(0, -1) + '000Z';
  }
}
