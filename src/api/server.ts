/**
 * berthd's HTTP front: the Docker Engine API on a Unix socket, over node:http.
 * Ordinary requests and `Upgrade: tcp` hijacks (attach, exec start) go
 * through the same route table.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { chmodSync, unlinkSync } from 'node:fs';
import type { Duplex } from 'node:stream';
import { API_VERSION, MIN_API_VERSION, BERTH_VERSION } from '../config';
import { InvalidArgumentError, NotFoundError } from '../errors';
import type { Engine } from '../engine/engine';
import { errorBody, errorStatus } from './errors';
import { type Hijacked, type RequestContext, Router, splitVersion } from './router';
import { systemRoutes } from './routes/system';
import { imageRoutes } from './routes/images';
import { containerRoutes } from './routes/containers';
import { execRoutes } from './routes/exec';
import { volumeRoutes } from './routes/volumes';
import { networkRoutes } from './routes/networks';
import { buildRoutes } from './routes/build';
import { registryRoutes } from './routes/registry';

const MAX_JSON_BODY = 16 * 1024 * 1024;
/** BERTH_DEBUG=requests (or =1) logs every request line on stderr. */
const DEBUG_REQUESTS = !!process.env.BERTH_DEBUG && process.env.BERTH_DEBUG !== '0';

export function buildRouter(engine: Engine): Router {
  const r = new Router();
  systemRoutes(r, engine);
  imageRoutes(r, engine);
  containerRoutes(r, engine);
  execRoutes(r, engine);
  volumeRoutes(r, engine);
  networkRoutes(r, engine);
  buildRoutes(r, engine);
  registryRoutes(r, engine);
  return r;
}

function versionOk(v: string): boolean {
  const [a, b] = v.split('.').map(Number);
  const [ma, mb] = MIN_API_VERSION.split('.').map(Number);
  return a > ma || (a === ma && b >= mb);
}

export function createApiServer(engine: Engine): Server {
  const router = buildRouter(engine);
  const server = createServer({ keepAlive: true });

  const dispatch = async (req: IncomingMessage, res: ServerResponse | undefined, socket: Duplex | undefined, head: Buffer) => {
    const url = new URL(req.url ?? '/', 'http://berth');
    const { version, path } = splitVersion(url.pathname);
    if (DEBUG_REQUESTS) process.stderr.write(`berthd: ${req.method} ${req.url}${socket ? ' (upgrade)' : ''}\n`);
    let hijacked = false;
    const send = (status: number, body?: unknown, headers: Record<string, string> = {}) => {
      const payload = body === undefined ? '' : JSON.stringify(body);
      const h = { 'Api-Version': API_VERSION, 'Server': `Berth/${BERTH_VERSION} (linux)`, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }), ...headers };
      if (res) {
        if (res.headersSent) {
          res.end();
          return;
        }
        res.writeHead(status, { ...h, 'Content-Length': Buffer.byteLength(payload) });
        res.end(req.method === 'HEAD' ? undefined : payload);
      } else if (socket && !hijacked) {
        const lines = Object.entries({ ...h, 'Content-Length': String(Buffer.byteLength(payload)), Connection: 'close' }).map(([k, v]) => `${k}: ${v}`);
        socket.end(`HTTP/1.1 ${status} ${status < 400 ? 'OK' : 'Error'}\r\n${lines.join('\r\n')}\r\n\r\n${payload}`);
      }
    };
    const ctx: RequestContext = {
      req,
      res,
      params: {},
      query: url.searchParams,
      apiVersion: version ?? API_VERSION,
      async json<T>() {
        if (!res) {
          // Upgraded request: the body arrived with the head bytes.
          const len = Number(req.headers['content-length'] ?? 0);
          if (!len) return undefined;
          let buf = head;
          while (buf.length < len && socket) {
            const chunk = await new Promise<Buffer>((resolve) => socket.once('data', resolve));
            // A 'data' listener switches the socket to flowing mode: pause it again, or the
            // client's stdin (and its EOF) would be emitted to nobody while exec starts.
            socket.pause();
            buf = Buffer.concat([buf, chunk]);
          }
          head = buf.subarray(len);
          return JSON.parse(buf.subarray(0, len).toString('utf8')) as T;
        }
        const chunks: Buffer[] = [];
        let size = 0;
        for await (const c of req) {
          size += (c as Buffer).length;
          if (size > MAX_JSON_BODY) throw new InvalidArgumentError('request body too large');
          chunks.push(c as Buffer);
        }
        if (size === 0) return undefined;
        try {
          return JSON.parse(Buffer.concat(chunks).toString('utf8')) as T;
        } catch (e) {
          throw new InvalidArgumentError(`invalid JSON body: ${(e as Error).message}`);
        }
      },
      send,
      hijack(contentType: string): Hijacked {
        hijacked = true;
        if (socket) {
          socket.write(`HTTP/1.1 101 UPGRADED\r\nContent-Type: ${contentType}\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nApi-Version: ${API_VERSION}\r\n\r\n`);
          return { socket, head, upgraded: true };
        }
        // Plain POST (older clients, dockerode without hijack): raw bytes, no chunk framing.
        res!.useChunkedEncodingByDefault = false;
        res!.writeHead(200, { 'Content-Type': contentType, Connection: 'close', 'Api-Version': API_VERSION });
        res!.flushHeaders();
        return { socket: res!.socket as Duplex, head: Buffer.alloc(0), upgraded: false };
      },
      stream(contentType: string, status = 200, headers: Record<string, string> = {}) {
        if (!res) throw new InvalidArgumentError('this endpoint does not support upgrade');
        res.writeHead(status, { 'Content-Type': contentType, 'Api-Version': API_VERSION, ...headers });
        res.flushHeaders();
        return res;
      },
    };
    try {
      if (version && !versionOk(version))
        throw new InvalidArgumentError(`client version ${version} is too old. Minimum supported API version is ${MIN_API_VERSION}, please upgrade your client to a newer version`);
      const m = router.match(req.method ?? 'GET', path);
      if (m === undefined) throw new NotFoundError(`page not found`);
      if (m === 'method-not-allowed') {
        send(405, { message: `method ${req.method} not allowed for ${path}` });
        return;
      }
      ctx.params = m.params;
      await m.handler(ctx);
    } catch (e) {
      const status = errorStatus(e);
      if (DEBUG_REQUESTS) process.stderr.write(`berthd: ${req.method} ${path} -> ${status}: ${status >= 500 && e instanceof Error ? e.stack : errorBody(e).message}\n`);
      if (hijacked) {
        socket?.end();
        res?.end();
        return;
      }
      if (res?.headersSent) {
        // Mid-stream failure: report in-band as Docker's JSON message stream does.
        res.end(JSON.stringify({ errorDetail: errorBody(e), error: errorBody(e).message }) + '\n');
        return;
      }
      send(status, status === 304 ? undefined : errorBody(e));
    }
  };

  server.on('request', (req, res) => void dispatch(req, res, undefined, Buffer.alloc(0)));
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => undefined);
    void dispatch(req, undefined, socket, head);
  });
  server.on('clientError', (_e, socket) => socket.destroy());
  return server;
}

export function listenUnix(server: Server, path: string): Promise<void> {
  try {
    unlinkSync(path);
  } catch {
    // no stale socket
  }
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => {
      // Root only (and group, for a future docker-style group): the API is root on the host.
      chmodSync(path, 0o660);
      resolve();
    });
  });
}
