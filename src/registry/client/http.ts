/**
 * The registry client's HTTP exchange over node:http/https rather than
 * fetch(). undici's fetch costs a fresh berthd ~130 ms of loading on its first
 * pull, and its web-stream bodies add per-chunk promise work on the pull's hot
 * path (measured on a 4 × 50 MB pull: ~230 ms of berthd's main thread). The
 * answer keeps the small part of Response the client uses: status, headers.get
 * and a body to iterate or cancel.
 */
import { type ClientRequest, type IncomingMessage, request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';

/** A connection that carries no data for this long fails (undici's body timeout). */
const IDLE_TIMEOUT_MS = 300_000;
/** A cancelled body up to this size is read to its end so the connection can be reused. */
const DRAIN_LIMIT = 64 * 1024;

/** A streamed body yields chunks, or lists of pieces to be sent in one write (writev). */
export type RequestBody = Buffer | AsyncIterable<Uint8Array | readonly Uint8Array[]>;

export class ResponseHeaders {
  constructor(private readonly raw: IncomingMessage['headers']) {}

  /** A header's value (repeated headers joined with ", ", as fetch does), or null. */
  get(name: string): string | null {
    const v = this.raw[name.toLowerCase()];
    if (v === undefined) return null;
    return Array.isArray(v) ? v.join(', ') : v;
  }
}

export interface ResponseBody extends AsyncIterable<Buffer> {
  /** Discards the rest: a short remainder is drained (the connection stays usable), a long one cut off. */
  cancel(): Promise<void>;
}

export interface RegistryResponse {
  readonly status: number;
  readonly statusText: string;
  readonly headers: ResponseHeaders;
  /** Null for HEAD, 204 and 304 answers. */
  readonly body: ResponseBody | null;
}

/** One HTTP exchange; resolves at the response head. No redirects, no content decoding. */
export function httpSend(method: string, url: URL, headers: Record<string, string>, body?: RequestBody): Promise<RegistryResponse> {
  return new Promise((resolve, reject) => {
    const h: Record<string, string> = { ...headers };
    if (Buffer.isBuffer(body)) h['Content-Length'] = String(body.length);
    else if (body === undefined && method !== 'GET' && method !== 'HEAD') h['Content-Length'] = '0';
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const req = send(url, { method, headers: h });
    let answered = false;
    req.setTimeout(IDLE_TIMEOUT_MS, () => req.destroy(Object.assign(new Error(`no data for ${IDLE_TIMEOUT_MS / 1000} s`), { code: 'ETIMEDOUT' })));
    req.on('error', (e) => {
      if (!answered) reject(e);
    });
    req.on('response', (res) => {
      answered = true;
      resolve(answer(req, res, method));
    });
    if (body === undefined) req.end();
    else if (Buffer.isBuffer(body)) req.end(body);
    else void pump(body, req, () => answered);
  });
}

/** Streams a request body with backpressure; stops early when the server has already answered. */
async function pump(src: AsyncIterable<Uint8Array | readonly Uint8Array[]>, req: ClientRequest, answered: () => boolean): Promise<void> {
  try {
    for await (const chunk of src) {
      if (answered() || req.destroyed) return;
      let ok: boolean;
      if (chunk instanceof Uint8Array) ok = req.write(chunk);
      else {
        req.cork();
        ok = true;
        for (const piece of chunk) ok = req.write(piece) && ok;
        req.uncork();
      }
      if (!ok) await drained(req);
    }
    req.end();
  } catch (e) {
    req.destroy(e as Error);
  }
}

function drained(req: ClientRequest): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (e?: Error) => {
      req.off('drain', onDrain);
      req.off('close', onClose);
      if (e) reject(e);
      else resolve();
    };
    const onDrain = () => done();
    const onClose = () => done(new Error('connection closed while sending'));
    req.on('drain', onDrain);
    req.on('close', onClose);
  });
}

function answer(req: ClientRequest, res: IncomingMessage, method: string): RegistryResponse {
  const status = res.statusCode ?? 0;
  // A request whose body was cut short (the server answered early) cannot leave its connection for reuse.
  const release = () => {
    if (!req.writableFinished) req.destroy();
  };
  res.once('end', release);
  res.once('close', release);
  const noBody = method === 'HEAD' || status === 204 || status === 304;
  if (noBody) res.resume();
  const body: ResponseBody | null = noBody
    ? null
    : {
        [Symbol.asyncIterator]: () => res[Symbol.asyncIterator]() as AsyncIterator<Buffer>,
        cancel: async () => {
          if (res.readableEnded || res.destroyed) return;
          const size = Number(res.headers['content-length']);
          if (Number.isFinite(size) && size <= DRAIN_LIMIT) res.resume();
          else res.destroy();
        },
      };
  return { status, statusText: res.statusMessage ?? '', headers: new ResponseHeaders(res.headers), body };
}
