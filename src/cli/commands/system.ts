/** version, info, events. */
import { BERTH_VERSION, API_VERSION } from '../../config';
import { connect } from '../client';
import { renderOne } from '../format';
import { filtersJson, out } from '../util';

export async function version(f: { format?: string }): Promise<void> {
  const clientInfo = { Version: BERTH_VERSION, ApiVersion: API_VERSION, Os: 'linux', Arch: process.arch === 'x64' ? 'amd64' : process.arch, NodeVersion: process.version };
  const client = await connect();
  const server = await client.json<Record<string, unknown>>('GET', '/version');
  if (f.format) {
    out(renderOne(f.format, { Client: clientInfo, Server: server }));
    return;
  }
  out(
    `Client: Berth\n Version:     ${clientInfo.Version}\n API version: ${clientInfo.ApiVersion}\n Node:        ${clientInfo.NodeVersion}\n OS/Arch:     linux/${clientInfo.Arch}\n\n` +
      `Server: Berth Engine\n Engine:\n  Version:     ${server.Version}\n  API version: ${server.ApiVersion} (minimum version ${server.MinAPIVersion})\n  OS/Arch:     ${server.Os}/${server.Arch}\n  Kernel:      ${server.KernelVersion}\n` +
      ((server.Components as Array<{ Name: string; Version: string }> | undefined) ?? []).filter((c) => c.Name !== 'Engine').map((c) => ` ${c.Name}:\n  Version:     ${c.Version}\n`).join(''),
  );
}

export async function info(f: { format?: string }): Promise<void> {
  const client = await connect();
  const i = await client.json<Record<string, unknown>>('GET', '/info');
  if (f.format) {
    out(renderOne(f.format, i));
    return;
  }
  const b = i.Berth as { Conmon: string; Runc: string };
  out(
    [
      'Server:',
      ` Containers: ${i.Containers}`,
      `  Running: ${i.ContainersRunning}`,
      `  Paused: ${i.ContainersPaused}`,
      `  Stopped: ${i.ContainersStopped}`,
      ` Images: ${i.Images}`,
      ` Server Version: ${i.ServerVersion}`,
      ` Storage Driver: ${i.Driver}`,
      ` Logging Driver: ${i.LoggingDriver}`,
      ` Cgroup Driver: ${i.CgroupDriver}`,
      ` Cgroup Version: ${i.CgroupVersion}`,
      ` Default Runtime: ${i.DefaultRuntime} (${b.Runc})`,
      ` Monitor: ${b.Conmon}`,
      ` Init Binary: ${i.InitBinary || '(none: install tini for --init)'}`,
      ` Kernel Version: ${i.KernelVersion}`,
      ` Operating System: ${i.OperatingSystem}`,
      ` Architecture: ${i.Architecture}`,
      ` CPUs: ${i.NCPU}`,
      ` Total Memory: ${((i.MemTotal as number) / 1024 ** 3).toFixed(2)}GiB`,
      ` Name: ${i.Name}`,
      ` Berth Root Dir: ${i.DockerRootDir}`,
      '',
    ].join('\n'),
  );
  for (const w of (i.Warnings as string[]) ?? []) process.stderr.write(`${w}\n`);
}

export async function events(f: { filter?: string[]; since?: string; until?: string; format?: string }): Promise<void> {
  const client = await connect();
  const res = await client.raw('GET', '/events', { query: { filters: filtersJson(f.filter), since: f.since, until: f.until } });
  let buf = '';
  await new Promise<void>((resolve) => {
    res.on('data', (d: Buffer) => {
      buf += d.toString('utf8');
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const e = JSON.parse(buf.slice(0, nl)) as { Type: string; Action: string; Actor: { ID: string; Attributes: Record<string, string> }; timeNano: number };
        buf = buf.slice(nl + 1);
        if (f.format) out(renderOne(f.format, e));
        else {
          const t = new Date(Math.floor(e.timeNano / 1e6)).toISOString().replace('Z', '000000+00:00');
          const attrs = Object.entries(e.Actor.Attributes).map(([k, v]) => `${k}=${v}`).join(', ');
          out(`${t} ${e.Type} ${e.Action} ${e.Actor.ID}${attrs ? ` (${attrs})` : ''}\n`);
        }
      }
    });
    res.on('end', resolve);
  });
}
