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

export function nodeHttpLibrary(agent: http.Agent): HttpLibrary {
  return wrapHttpLibrary({
    send(ctx: RequestContext): Promise<ResponseContext> {
      return new Promise((resolve, reject) => {
        const url = new URL(ctx.getUrl());
        const send = url.protocol === 'http:' ? http.request : https.request;
        const body = ctx.getBody();
        if (body !== undefined && typeof body !== 'string') {
          reject(new Error('leaseguard sends JSON bodies only'));
          return;
        }
        const signal = ctx.getSignal();
        // Node sends DELETE bodies unframed unless told their length, and the API server
        // then reads none: a delete's preconditions would be silently dropped.
        const headers = body === undefined ? ctx.getHeaders() : { ...ctx.getHeaders(), 'content-length': String(Buffer.byteLength(body)) };
        const req = send(
          url,
          { method: ctx.getHttpMethod(), headers, agent, ...(signal ? { signal } : {}) },
          (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('error', reject);
            res.on('end', () => {
              const buf = Buffer.concat(chunks);
              resolve(
                new ResponseContext(res.statusCode ?? 0, flatten(res.headers), {
                  text: async () => buf.toString('utf8'),
                  binary: async () => buf,
                }),
              );
            });
          },
        );
        req.on('error', reject);
        req.end(body);
      });
    },
  });
}
