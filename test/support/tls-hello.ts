// A TLS ClientHello written byte by byte, so a test can offer exactly the protocol version
// and cipher suites it names, whatever the local OpenSSL is built to offer, and read what
// the server answers: a ServerHello (accepted) or an alert (refused, with its code).
import net from 'node:net';

export type HelloAnswer =
  { kind: 'server-hello'; suite: number } | { kind: 'alert'; description: number } | { kind: 'closed' | 'other' };

const u16 = (n: number) => Buffer.from([n >> 8, n & 0xff]);
const u24 = (n: number) => Buffer.from([n >> 16, (n >> 8) & 0xff, n & 0xff]);
const vec16 = (b: Buffer) => Buffer.concat([u16(b.length), b]);
const ext = (type: number, body: Buffer) => Buffer.concat([u16(type), vec16(body)]);

/** A ClientHello at `version` (0x0301 TLS 1.0 … 0x0303 TLS 1.2) offering only `suites`. */
export function clientHello(version: number, suites: number[], serverName = 'localhost'): Buffer {
  const name = Buffer.from(serverName);
  const extensions = Buffer.concat([
    ext(0x0000, vec16(Buffer.concat([Buffer.from([0]), vec16(name)]))), // server_name
    ext(0x000a, vec16(Buffer.concat([0x001d, 0x0017, 0x0018].map(u16)))), // supported_groups
    ext(0x000b, Buffer.from([1, 0])), // ec_point_formats: uncompressed
    ext(0x000d, vec16(Buffer.concat([0x0804, 0x0401, 0x0403, 0x0805, 0x0501, 0x0601, 0x0201].map(u16)))), // signature_algorithms
    ext(0xff01, Buffer.from([0])), // renegotiation_info
  ]);
  const body = Buffer.concat([
    u16(version),
    Buffer.alloc(32, 7), // random
    Buffer.from([0]), // no session id
    vec16(Buffer.concat(suites.map(u16))),
    Buffer.from([1, 0]), // compression: null
    vec16(extensions),
  ]);
  const handshake = Buffer.concat([Buffer.from([1]), u24(body.length), body]);
  return Buffer.concat([Buffer.from([0x16, 0x03, 0x01]), u16(handshake.length), handshake]);
}

/** Sends `hello` to 127.0.0.1:`port` and reports the server's first record. */
export function sendHello(port: number, hello: Buffer, timeoutMs = 5000): Promise<HelloAnswer> {
  return new Promise((resolve) => {
    const sock = net.connect(port, '127.0.0.1', () => sock.write(hello));
    let data = Buffer.alloc(0);
    const done = (a: HelloAnswer) => {
      clearTimeout(timer);
      sock.destroy();
      resolve(a);
    };
    const timer = setTimeout(() => done({ kind: 'other' }), timeoutMs);
    sock.on('data', (d: Buffer) => {
      data = Buffer.concat([data, d]);
      if (data.length < 7) return;
      if (data[0] === 0x15) return done({ kind: 'alert', description: data[6]! });
      if (data[0] === 0x16 && data[5] === 0x02) {
        // ServerHello: type(1) length(3) version(2) random(32) session id(1 + n), then the suite.
        if (data.length < 44) return;
        const sid = data[43]!;
        if (data.length < 46 + sid) return;
        return done({ kind: 'server-hello', suite: data.readUInt16BE(44 + sid) });
      }
      done({ kind: 'other' });
    });
    sock.on('close', () => done({ kind: 'closed' }));
    sock.on('error', () => done({ kind: 'closed' }));
  });
}
