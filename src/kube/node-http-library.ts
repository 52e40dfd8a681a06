// Sends client-node's requests with Node's own http/https and one keep-alive agent.
//
// Node's http client with one keep-alive agent: no extra layer per request (client-node
// 1.x sent through node-fetch, whose chunked-response check misfired on reused keep-alive
// sockets; 2.x sends through undici's fetch).
import http from 'node:http';
import https from 'node:https';
import { ResponseContext, wrapHttpLibrary, type HttpLibrary, type RequestContext } from '@kubernetes/client-node';

function flatten(headers: http.IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) if (v !== undefined) out[k] = Array.isArray(v) ? v.join(', ') : v;
  return out;
}

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

/** One request with Node's client; the body, when any, is sent with its length. */
export function send(url: string | URL, options: http.RequestOptions, body?: string): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const u = typeof url === 'string' ? new URL(url) : url;
    const request = u.protocol === 'http:' ? http.request : https.request;
    // Node sends DELETE bodies unframed unless told their length, and the API server
    // then reads none: a delete's preconditions would be silently dropped.
    const headers =
      body === undefined ? options.headers : { ...options.headers, 'content-length': String(Buffer.byteLength(body)) };
    const req = request(u, { ...options, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: flatten(res.headers), body: Buffer.concat(chunks) }),
      );
    });
    req.on('error', reject);
    req.end(body);
  });
}

export function nodeHttpLibrary(agent: http.Agent): HttpLibrary {
  return wrapHttpLibrary({
    async send(ctx: RequestContext): Promise<ResponseContext> {
      const body = ctx.getBody();
      if (body !== undefined && typeof body !== 'string') throw new Error('leaseguard sends JSON bodies only');
      const signal = ctx.getSignal();
      const res = await send(
        ctx.getUrl(),
        { method: ctx.getHttpMethod(), headers: ctx.getHeaders(), agent, ...(signal ? { signal } : {}) },
        body,
      );
      return new ResponseContext(res.status, res.headers, {
        text: async () => res.body.toString('utf8'),
        binary: async () => res.body,
        stream: () => null,
      });
    },
  });
}
