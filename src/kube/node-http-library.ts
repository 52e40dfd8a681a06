// Sends client-node's requests with Node's own http/https and one keep-alive agent.
//
// client-node 1.4 sends through node-fetch 2, whose chunked-response check misfires on
// reused keep-alive sockets ("Premature close"), so keep-alive and node-fetch do not mix.
// Node's http client has no such problem and no extra layer.
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
    const headers = body === undefined ? options.headers : { ...options.headers, 'content-length': String(Buffer.byteLength(body)) };
    const req = request(u, { ...options, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: flatten(res.headers), body: Buffer.concat(chunks) }));
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
      const res = await send(ctx.getUrl(), { method: ctx.getHttpMethod(), headers: ctx.getHeaders(), agent, ...(signal ? { signal } : {}) }, body);
      return new ResponseContext(res.status, res.headers, { text: async () => res.body.toString('utf8'), binary: async () => res.body });
    },
  });
}
