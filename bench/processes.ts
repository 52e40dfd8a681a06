// Starting servers as their own processes, so load generator and server do not share an
// event loop, and reading the ports they report.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, readFileSync } from 'node:fs';
import https from 'node:https';
import type { SocketConstructorOpts } from 'node:net';

export interface Served {
  proc: ChildProcess;
  port: number;
  metricsPort: number;
  stop(): Promise<void>;
}

/** Spawns a process that logs `"leaseguard is serving"` with its ports; the rest of its output goes to logFile. */
export function spawnServer(args: string[], env: Record<string, string>, logFile: string): Promise<Served> {
  const proc = spawn(process.execPath, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { PATH: process.env.PATH ?? '', ...env },
  });
  const log = createWriteStream(logFile);
  proc.stderr?.pipe(log);
  return new Promise((resolve, reject) => {
    let buf = '';
    let found = false;
    proc.stdout?.on('data', (d: Buffer) => {
      log.write(d);
      if (found) return;
      buf += d.toString();
      const line = buf.split('\n').find((l) => l.includes('"leaseguard is serving"'));
      if (!line) return;
      found = true;
      const { admissionPort, metricsPort } = JSON.parse(line) as { admissionPort: number; metricsPort: number };
      resolve({
        proc,
        port: admissionPort,
        metricsPort,
        stop: () =>
          new Promise<void>((res) => {
            if (proc.exitCode !== null) return res();
            proc.once('exit', () => res());
            proc.kill('SIGTERM');
            setTimeout(() => proc.kill('SIGKILL'), 5000).unref();
          }),
      });
    });
    proc.once('exit', (code) => {
      if (!found) reject(new Error(`${args.join(' ')} exited with ${code} before serving; see ${logFile}`));
    });
  });
}

/** CPU time (user + system, all threads) a process has used, in milliseconds (Linux). */
export function cpuTimeMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // utime, stime in clock ticks (USER_HZ = 100)
}

/** A minimal keep-alive HTTPS client: the same one drives every server being compared. */
export class Client {
  readonly agent: https.Agent;
  constructor(
    readonly host: string,
    readonly port: number,
    ca: string,
    maxSockets: number,
    private readonly headers: Record<string, string> = {},
  ) {
    // The Agent hands its options to net.connect, which takes noDelay; @types/node 24's
    // AgentOptions leave it out, so the options are typed with the socket's too.
    const options: https.AgentOptions & SocketConstructorOpts = {
      ca,
      keepAlive: true,
      maxSockets,
      maxFreeSockets: maxSockets,
      noDelay: true,
    };
    this.agent = new https.Agent(options);
  }

  request(method: string, path: string, body?: string): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const headers: Record<string, string> = { ...this.headers };
      if (body !== undefined) {
        headers['content-type'] = 'application/json';
        headers['content-length'] = String(Buffer.byteLength(body));
      }
      const req = https.request(
        { host: this.host, port: this.port, method, path, agent: this.agent, headers },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}
