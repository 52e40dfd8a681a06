import type { IncomingMessage } from 'node:http';
import { badRequest } from '../errors.js';

/** Reads a request body up to `limit` bytes; a larger one is refused with 413 at once. */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) {
    req.resume(); // discard; the connection is closed after the reply
    return Promise.reject(
      badRequest(413, `body of ${declared} bytes exceeds the ${limit}-byte limit for an AdmissionReview`),
    );
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = (err?: Error) => {
      if (done) return;
      done = true;
      req.off('data', onData).off('end', onEnd).off('error', onError).off('aborted', onAborted);
      if (err) reject(err);
      else resolve(Buffer.concat(chunks, size));
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.resume();
        finish(badRequest(413, `body exceeds the ${limit}-byte limit for an AdmissionReview`));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => finish();
    const onError = (err: Error) => finish(badRequest(400, `could not read the body: ${err.message}`));
    const onAborted = () => finish(badRequest(400, 'the client aborted the request'));
    req.on('data', onData).on('end', onEnd).on('error', onError).on('aborted', onAborted);
  });
}
