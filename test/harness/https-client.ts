import https from 'node:https';

export interface HttpResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: any;
}

/** A keep-alive HTTPS client that trusts one CA, as the API server does. */
export class HttpsClient {
  readonly agent: https.Agent;
  constructor(
    readonly baseUrl: string,
    ca: string,
    maxSockets = 64,
    /** A client certificate to present (as the API server does when configured to). */
    identity?: { cert: string; key: string },
  ) {
    this.agent = new https.Agent({ ca, keepAlive: true, maxSockets, ...identity });
  }

  request(
    method: string,
    path: string,
    body?: string | Buffer,
    headers: Record<string, string> = {},
  ): Promise<HttpResult> {
    return new Promise((resolve, reject) => {
      const req = https.request(`${this.baseUrl}${path}`, { method, agent: this.agent, headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: unknown;
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
        });
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(body);
    });
  }

  post(path: string, body: unknown, contentType = 'application/json'): Promise<HttpResult> {
    return this.request('POST', path, typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body), {
      'content-type': contentType,
    });
  }

  close(): void {
    this.agent.destroy();
  }
}
