/** /containers/{id}/exec and /exec/*: exec sessions under their own conmon. */
import type { Engine } from '../../engine/engine';
import { ConflictError, InvalidArgumentError, messageOf } from '../../errors';
import type { ExecConfig } from '../../runtime/types';
import { frame, STDERR, STDOUT } from '../stdcopy';
import type { Router } from '../router';
import { pipeStdin } from './containers';
import { writeOut } from '../stream';

export function execRoutes(r: Router, engine: Engine): void {
  const C = engine.containers;
  r.add('POST', '/containers/{id}/exec', async (ctx) => {
    const body = await ctx.json<ExecConfig>();
    if (!body) throw new InvalidArgumentError('exec config is required');
    const id = C.createExec(ctx.params.id, body);
    const c = C.get(ctx.params.id);
    engine.events.emit('container', `exec_create: ${body.Cmd.join(' ')}`, c.rec.Id, { execID: id });
    ctx.send(201, { Id: id });
  });

  r.add('POST', '/exec/{id}/start', async (ctx) => {
    const body = (await ctx.json<{ Detach?: boolean; Tty?: boolean }>()) ?? {};
    const e = C.getExec(ctx.params.id);
    if (body.Tty !== undefined) e.Config.Tty = body.Tty;
    if (body.Detach) {
      await C.startExec(e.ID);
      ctx.send(200);
      return;
    }
    // What can be refused as a plain HTTP error is checked before the upgrade; a failure of the
    // exec itself (command not found...) comes after it, in the stream, as dockerd does: the
    // docker CLI prints it and exits with the exec's exit code (126/127) from GET /exec/{id}/json.
    if (e.Running || e.ExitCode !== null) throw new ConflictError(`exec ${e.ID} has already run`);
    const c = C.get(e.ContainerID);
    if (!c.state.Running) throw new ConflictError(`container ${c.rec.Id} is not running`);
    if (c.state.Paused) throw new ConflictError(`container ${c.rec.Id} is paused, unpause the container before exec`);
    const tty = !!e.Config.Tty;
    const { socket, head } = ctx.hijack(tty ? 'application/vnd.docker.raw-stream' : 'application/vnd.docker.multiplexed-stream');
    try {
      await C.startExec(e.ID);
    } catch (err) {
      const msg = Buffer.from(`${messageOf(err)}\r\n`);
      socket.end(tty ? msg : frame(STDOUT, msg));
      return;
    }
    if (e.Config.AttachStdin) pipeStdin(engine, socket, head, () => C.execStdin(e.ID));
    for await (const rec of C.execLogs(e.ID)) {
      if (rec.stream === 'stdout' && e.Config.AttachStdout === false) continue;
      if (rec.stream === 'stderr' && e.Config.AttachStderr === false) continue;
      if (!(await writeOut(socket, tty ? rec.data : frame(rec.stream === 'stdout' ? STDOUT : STDERR, rec.data)))) break;
    }
    socket.end();
  });

  r.add('GET', '/exec/{id}/json', (ctx) => {
    const e = C.getExec(ctx.params.id);
    ctx.send(200, {
      ID: e.ID,
      Running: e.Running,
      ExitCode: e.ExitCode,
      ProcessConfig: { tty: !!e.Config.Tty, entrypoint: e.Config.Cmd[0], arguments: e.Config.Cmd.slice(1), privileged: !!e.Config.Privileged, user: e.Config.User ?? '' },
      OpenStdin: !!e.Config.AttachStdin,
      OpenStderr: e.Config.AttachStderr !== false,
      OpenStdout: e.Config.AttachStdout !== false,
      CanRemove: false,
      ContainerID: e.ContainerID,
      DetachKeys: '',
      Pid: e.Pid,
    });
  });

  r.add('POST', '/exec/{id}/resize', async (ctx) => {
    await C.resizeExec(ctx.params.id, Number(ctx.query.get('h') ?? 0), Number(ctx.query.get('w') ?? 0));
    ctx.send(200);
  });
}
