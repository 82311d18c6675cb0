/**
 * dockerode (the Node Docker client, via docker-modem) against berthd's socket: hijacked and
 * plain attach with stdcopy demultiplexing, wait, exec with and without stdin, list, inspect,
 * and Docker's error shape.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough, type Duplex } from 'node:stream';
import { TestEngine, isRoot } from '../helpers/engine';

// dockerode ships no types; these are the parts used here.
interface DockerodeExec {
  start(opts: { hijack?: boolean; stdin?: boolean; Detach?: boolean }): Promise<Duplex>;
  inspect(): Promise<{ ExitCode: number | null; Running: boolean; ContainerID: string }>;
}
interface DockerodeContainer {
  id: string;
  modem: { demuxStream(stream: NodeJS.ReadableStream, stdout: NodeJS.WritableStream, stderr: NodeJS.WritableStream): void };
  attach(opts: { stream: boolean; stdout: boolean; stderr: boolean; stdin?: boolean; hijack?: boolean }): Promise<Duplex>;
  start(): Promise<unknown>;
  wait(opts?: { condition?: string }): Promise<{ StatusCode: number; Error?: { Message: string } | null }>;
  exec(opts: { Cmd: string[]; AttachStdout?: boolean; AttachStderr?: boolean; AttachStdin?: boolean; Env?: string[] }): Promise<DockerodeExec>;
  inspect(): Promise<{ Id: string; Name: string; State: { Status: string; ExitCode: number; Running: boolean } }>;
  remove(opts?: { force?: boolean }): Promise<unknown>;
}
interface DockerodeClient {
  createContainer(opts: Record<string, unknown>): Promise<DockerodeContainer>;
  getContainer(id: string): DockerodeContainer;
  getImage(name: string): { inspect(): Promise<{ Id: string; RepoTags: string[]; Config: { Cmd: string[] | null } }> };
  listContainers(opts?: { all?: boolean; filters?: string }): Promise<Array<{ Id: string; Names: string[]; Image: string; State: string; Status: string }>>;
  listImages(): Promise<Array<{ Id: string; RepoTags: string[] }>>;
  ping(): Promise<Buffer | string>;
  version(): Promise<{ ApiVersion: string; Platform?: { Name: string } }>;
  run(image: string, cmd: string[], streams: NodeJS.WritableStream[], opts: Record<string, unknown>): Promise<[{ StatusCode: number }, DockerodeContainer]>;
}
type DockerodeCtor = new (opts: { socketPath: string }) => DockerodeClient;

/** Collects what a demultiplexed stream writes. */
function sink(): { stream: PassThrough; text: () => string } {
  const stream = new PassThrough();
  const chunks: Buffer[] = [];
  stream.on('data', (d: Buffer) => chunks.push(d));
  return { stream, text: () => Buffer.concat(chunks).toString('utf8') };
}

function ended(s: NodeJS.ReadableStream, ms = 15_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('stream did not end')), ms);
    const done = () => {
      clearTimeout(t);
      resolve();
    };
    s.once('end', done);
    s.once('close', done);
  });
}

describe('dockerode against berthd', { skip: isRoot() ? false : 'needs root: mounts overlays and runs runc' }, () => {
  const e = new TestEngine();
  let docker: DockerodeClient;

  before(async () => {
    await e.start();
    await e.busybox();
    const Docker = require('dockerode') as DockerodeCtor;
    docker = new Docker({ socketPath: e.socket });
  });
  after(() => e.cleanup());

  test('ping and version', async () => {
    assert.equal(String(await docker.ping()), 'OK');
    const v = await docker.version();
    assert.equal(v.ApiVersion, '1.45');
    assert.equal(v.Platform?.Name, 'Berth');
  });

  test('hijacked attach before start: stdout and stderr demultiplexed, wait gives the exit code', async () => {
    const c = await docker.createContainer({
      Image: 'busybox',
      name: 'dd-attach',
      Cmd: ['sh', '-c', 'echo out1; echo err1 >&2; sleep 0.2; echo out2; echo err2 >&2; exit 3'],
      AttachStdout: true,
      AttachStderr: true,
    });
    const stream = await c.attach({ stream: true, stdout: true, stderr: true, hijack: true });
    const out = sink();
    const err = sink();
    c.modem.demuxStream(stream, out.stream, err.stream);
    const done = ended(stream);
    await c.start();
    const w = await c.wait();
    assert.equal(w.StatusCode, 3);
    await done;
    assert.equal(out.text(), 'out1\nout2\n');
    assert.equal(err.text(), 'err1\nerr2\n');
    const info = await c.inspect();
    assert.equal(info.Name, '/dd-attach');
    assert.equal(info.State.Status, 'exited');
    assert.equal(info.State.ExitCode, 3);
    await c.remove();
  });

  test('plain (non-hijacked) attach streams the same frames', async () => {
    const c = await docker.createContainer({ Image: 'busybox', Cmd: ['sh', '-c', 'echo A; echo B >&2'], AttachStdout: true, AttachStderr: true });
    const stream = await c.attach({ stream: true, stdout: true, stderr: true });
    const out = sink();
    const err = sink();
    c.modem.demuxStream(stream, out.stream, err.stream);
    const done = ended(stream);
    await c.start();
    assert.equal((await c.wait()).StatusCode, 0);
    await done;
    assert.equal(out.text(), 'A\n');
    assert.equal(err.text(), 'B\n');
    await c.remove();
  });

  test('run helper with separate stdout/stderr streams', async () => {
    const out = sink();
    const err = sink();
    const [res, c] = await docker.run('busybox', ['sh', '-c', 'echo via-run; echo via-run-err >&2; exit 4'], [out.stream, err.stream], { Tty: false });
    assert.equal(res.StatusCode, 4);
    // The attach stream may deliver its last frames just after wait returns.
    for (let i = 0; i < 50 && !(out.text() && err.text()); i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(out.text(), 'via-run\n');
    assert.equal(err.text(), 'via-run-err\n');
    await c.remove();
  });

  test('exec: demultiplexed output, exit code from inspect, stdin, env', async () => {
    const c = await docker.createContainer({ Image: 'busybox', name: 'dd-exec', Cmd: ['sleep', '300'] });
    await c.start();

    const ex = await c.exec({ Cmd: ['sh', '-c', 'echo xo; echo xe >&2; echo $GREETING; exit 5'], AttachStdout: true, AttachStderr: true, Env: ['GREETING=hi'] });
    const s = await ex.start({ hijack: true, stdin: false });
    const out = sink();
    const err = sink();
    c.modem.demuxStream(s, out.stream, err.stream);
    await ended(s);
    assert.equal(out.text(), 'xo\nhi\n');
    assert.equal(err.text(), 'xe\n');
    const info = await ex.inspect();
    assert.equal(info.ExitCode, 5);
    assert.equal(info.Running, false);
    assert.equal(info.ContainerID, c.id);

    const ex2 = await c.exec({ Cmd: ['tr', 'a-z', 'A-Z'], AttachStdin: true, AttachStdout: true, AttachStderr: true });
    const s2 = await ex2.start({ hijack: true, stdin: true });
    const out2 = sink();
    const err2 = sink();
    c.modem.demuxStream(s2, out2.stream, err2.stream);
    const done2 = ended(s2);
    s2.write('hello stdin\n');
    s2.end();
    await done2;
    assert.equal(out2.text(), 'HELLO STDIN\n');
    assert.equal((await ex2.inspect()).ExitCode, 0);

    // A command that does not exist: the stream carries the error, the exec's exit code is 127.
    const ex3 = await c.exec({ Cmd: ['no-such-command'], AttachStdout: true, AttachStderr: true });
    const s3 = await ex3.start({ hijack: true, stdin: false });
    const out3 = sink();
    c.modem.demuxStream(s3, out3.stream, sink().stream);
    await ended(s3);
    assert.match(out3.text(), /executable file not found/);
    assert.equal((await ex3.inspect()).ExitCode, 127);
  });

  test('listContainers, getImage().inspect(), listImages, errors', async () => {
    const running = await docker.listContainers();
    const mine = running.find((x) => x.Names.includes('/dd-exec'));
    assert.ok(mine, JSON.stringify(running));
    assert.equal(mine.State, 'running');
    assert.equal(mine.Image, 'busybox');
    assert.match(mine.Status, /^Up /);
    const filtered = await docker.listContainers({ all: true, filters: JSON.stringify({ name: ['dd-exec'] }) });
    assert.deepEqual(
      filtered.map((x) => x.Names[0]),
      ['/dd-exec'],
    );

    const img = await docker.getImage('busybox').inspect();
    assert.match(img.Id, /^sha256:[0-9a-f]{64}$/);
    assert.deepEqual(img.RepoTags, ['busybox:latest']);
    assert.deepEqual(img.Config.Cmd, ['sh']);
    assert.ok((await docker.listImages()).some((i) => i.Id === img.Id));

    await assert.rejects(docker.getContainer('dd-no-such').inspect(), (err: { statusCode?: number; json?: { message?: string } }) => {
      assert.equal(err.statusCode, 404);
      assert.match(err.json?.message ?? '', /No such container: dd-no-such/);
      return true;
    });
    await assert.rejects(docker.getImage('no-such-image:1').inspect(), (err: { statusCode?: number }) => err.statusCode === 404);

    const c = docker.getContainer('dd-exec');
    await c.remove({ force: true });
    await assert.rejects(c.inspect(), (err: { statusCode?: number }) => err.statusCode === 404);
  });
});
