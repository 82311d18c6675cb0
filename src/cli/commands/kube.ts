/** `berth kube play|down`: Kubernetes YAML run on berthd, as `podman kube play|down` (src/kube). */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { connect, readBody, type Client } from '../client';
import { ExitError, out } from '../util';
import { Demuxer } from '../../api/stdcopy';
import { KubeError, parseManifest, type Manifest } from '../../kube/model';
import { down as kubeDown, play as kubePlay } from '../../kube/play';
import { pullImage } from './registry';

/** Podman's exit code for a failed kube play or down. */
const FAILED = 125;

function load(file: string): { manifest: Manifest; label: string } {
  let text: string;
  try {
    text = readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (e) {
    throw new ExitError(`cannot read ${file}: ${(e as Error).message}`, FAILED);
  }
  return { manifest: guard(() => parseManifest(text)), label: file === '-' ? '-' : resolve(file) };
}

function guard<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof KubeError) throw new ExitError(`Error: ${e.message}`, FAILED);
    throw e;
  }
}

async function guarded<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof KubeError) throw new ExitError(`Error: ${e.message}`, FAILED);
    throw e;
  }
}

const warn = (m: string) => process.stderr.write(`WARN[0000] ${m}\n`);

export interface PlayFlags {
  replace?: boolean;
  /** `kube play --down`: Podman's spelling of `kube down`. */
  down?: boolean;
  force?: boolean;
}

export async function play(file: string, f: PlayFlags): Promise<void> {
  if (f.down) return down(file, f);
  const { manifest, label } = load(file);
  const client = await connect();
  const r = await guarded(() =>
    kubePlay(client, manifest, {
      file: label,
      replace: !!f.replace,
      pull: async (image) => void (await pullImage(image, { quiet: true })),
      logs: (id) => tail(client, id),
      warn,
    }),
  );
  // Podman's report: each volume made, then each pod and its containers.
  let text = '';
  for (const v of r.volumes) text += `Volume:\n${v}\n`;
  for (const p of r.pods) text += `Pod:\n${p.id}\nContainers:\n${p.containers.map((id) => `${id}\n`).join('')}\n`;
  out(text);
}

export async function down(file: string, f: { force?: boolean }): Promise<void> {
  const { manifest } = load(file);
  const client = await connect();
  const r = await guarded(() => kubeDown(client, manifest, { volumes: !!f.force }));
  let text = '';
  if (r.pods.length) text += `Pods stopped:\n${r.pods.join('\n')}\nPods removed:\n${r.pods.join('\n')}\n`;
  if (r.volumes.length) text += `Volumes removed:\n${r.volumes.join('\n')}\n`;
  out(text);
}

/** A container's last log lines, both streams. */
async function tail(client: Client, id: string): Promise<string> {
  const res = await client.raw('GET', `/containers/${id}/logs`, { query: { stdout: 1, stderr: 1, tail: 20 } });
  const body = await readBody(res);
  if ((res.statusCode ?? 500) >= 400) return '';
  let text = '';
  const demux = new Demuxer((_stream: number, d: Buffer) => (text += d.toString('utf8')));
  demux.push(body);
  return text;
}
