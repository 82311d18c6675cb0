/**
 * `kube play` and `kube down` over the Engine API, as Podman's: each pod is an
 * infra container plus the pod's containers in its namespaces (translate.ts).
 * Images are all checked (and pulled) before anything is made; a pod that fails
 * part way (an image that will not start, an init container that exits non-zero,
 * a hostPort in use) is taken down again, so a play leaves whole pods or none.
 * `down` removes the containers and emptyDir volumes labelled with the YAML's pod
 * names; claim volumes stay unless asked (Podman's `down --force`).
 */
import { existsSync, readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { writeTar } from '../image/tar';
import { imageExists, putFiles, type ContainerSummary, type EngineApi } from '../compose/project';
import { KubeError, type Manifest, type Pod, type Service } from './model';
import { containerBody, containerName, infraBody, INFRA_IMAGE, infraName, KUBE_NETWORK, LABEL_CLAIM, LABEL_FILE, LABEL_NETWORK, LABEL_OWNER, LABEL_POD, podFiles, servicesOf, type PodContext } from './translate';

export interface PlayOptions {
  /** The YAML's absolute path, or "-" for stdin (a label on everything made). */
  file: string;
  /** Take the YAML's pods down first (`--replace`). */
  replace?: boolean;
  /** Pulls an image through the API; throws when it cannot. */
  pull: (image: string) => Promise<void>;
  /** The last lines a container wrote (an init container's failure). */
  logs: (id: string) => Promise<string>;
  warn: (msg: string) => void;
  /** The static busybox the infra image is made from. */
  busybox?: string;
}

export interface PlayedPod {
  name: string;
  /** The pod's ID: its infra container's. */
  id: string;
  containers: string[];
}

export interface PlayResult {
  pods: PlayedPod[];
  /** Volumes made for PersistentVolumeClaims. */
  volumes: string[];
}

export async function play(api: EngineApi, m: Manifest, o: PlayOptions): Promise<PlayResult> {
  for (const w of [...m.warnings, ...serviceWarnings(m)]) o.warn(w);
  const users = await ensureImages(api, m, o);
  if (o.replace) await down(api, m, {});
  else
    for (const pod of m.pods)
      if ((await podContainers(api, pod)).length) throw new KubeError(`pod ${pod.name} already exists: use kube play --replace, or kube down first`);
  await ensureInfraImage(api, o.busybox ?? '/bin/busybox');
  if (m.pods.some((p) => !p.spec.hostNetwork)) await ensureNetwork(api);
  const volumes = await ensureClaims(api, m, o.file);
  const pods: PlayedPod[] = [];
  for (const pod of m.pods) pods.push(await playPod(api, m, pod, o, (image) => users.get(image) ?? ''));
  return { pods, volumes };
}

/** Services are names on the kube network (and NodePorts on the host), not proxies: say where that differs. */
function serviceWarnings(m: Manifest): string[] {
  const out: string[] = [];
  for (const s of m.services) {
    const pods = m.pods.filter((p) => servicesOf(p, [s]).length);
    if (!pods.length) out.push(`Service ${s.name}: selects no pod in this YAML; ignored`);
    else if (s.type === 'LoadBalancer' || s.type === 'ExternalName') out.push(`Service ${s.name}: type ${s.type} is not supported; pods reach it by name only`);
    for (const p of s.ports.filter((x) => typeof x.targetPort === 'number' && x.targetPort !== x.port))
      out.push(`Service ${s.name}: port ${p.port} forwards to ${p.targetPort}; here pods reach ${s.name} on port ${p.targetPort} (no Service proxy)`);
    if (s.type === 'NodePort' && pods.length > 1) out.push(`Service ${s.name}: nodePorts are published by pod ${pods[0]!.name} only`);
  }
  return out;
}

/** Every image present (pulled per imagePullPolicy) before any container is made; returns each image's USER. */
async function ensureImages(api: EngineApi, m: Manifest, o: PlayOptions): Promise<Map<string, string>> {
  const users = new Map<string, string>();
  const containers = m.pods.flatMap((p) => [...p.spec.initContainers, ...p.spec.containers]);
  for (const c of containers) {
    if (users.has(c.image)) continue;
    let present = await imageExists(api, c.image);
    if (c.imagePullPolicy === 'Always' || (c.imagePullPolicy === 'IfNotPresent' && !present)) {
      try {
        await o.pull(c.image);
        present = true;
      } catch (e) {
        const msg = `image ${c.image} (container ${c.name}): pull failed: ${(e as Error).message}`;
        if (!present) throw new KubeError(msg);
        o.warn(`${msg}; using the local image`);
      }
    }
    if (!present) throw new KubeError(`image ${c.image} (container ${c.name}) is not present and imagePullPolicy is Never`);
    const info = await api.json<{ Config?: { User?: string } }>('GET', `/images/${encodeURIComponent(c.image)}/json`);
    users.set(c.image, info.Config?.User ?? '');
  }
  return users;
}

/**
 * The infra image: there is no pause image without a registry, so it is made on first use
 * from the host's static busybox, sleeping until killed (its stop signal is SIGKILL).
 */
export async function ensureInfraImage(api: EngineApi, busybox: string): Promise<void> {
  if (await imageExists(api, INFRA_IMAGE)) return;
  if (!existsSync(busybox)) throw new KubeError(`kube play makes its pod infra image from a static busybox, and ${busybox} is missing (apt-get install busybox-static)`);
  const dirs = ['bin', 'dev', 'etc', 'proc', 'sys', 'tmp'].map((name) => ({ entry: { name, type: 'directory' as const, mode: name === 'tmp' ? 0o1777 : 0o755 } }));
  const tar = writeTar([...dirs, { entry: { name: 'bin/busybox', type: 'file', mode: 0o755 }, body: readFileSync(busybox) }]);
  const [repo, tag] = INFRA_IMAGE.split(/:(?=[^:/]+$)/);
  await api.call('POST', '/images/create', {
    query: { fromSrc: '-', repo, tag, changes: ['ENTRYPOINT ["/bin/busybox", "sleep", "infinity"]', 'STOPSIGNAL SIGKILL', 'LABEL io.berth.kube.infra=1'], message: 'berth kube play infra' },
    stream: Readable.from(tar),
    headers: { 'Content-Type': 'application/x-tar' },
  });
}

async function ensureNetwork(api: EngineApi): Promise<void> {
  const found = await api.json('GET', `/networks/${KUBE_NETWORK}`).then(
    () => true,
    (e: { status?: number }) => (e.status === 404 ? false : Promise.reject(e)),
  );
  if (!found) await api.json('POST', '/networks/create', { body: { Name: KUBE_NETWORK, Driver: 'bridge', Labels: { [LABEL_NETWORK]: '1' } } });
}

/** Volumes for every claim the pods use, made when missing; returns those made. */
async function ensureClaims(api: EngineApi, m: Manifest, file: string): Promise<string[]> {
  const used = new Set(m.pods.flatMap((p) => Object.values(p.spec.volumes).flatMap((v) => (v.type === 'claim' ? [v.claim] : []))));
  const made: string[] = [];
  for (const claim of used) {
    const found = await api.json('GET', `/volumes/${encodeURIComponent(claim)}`).then(
      () => true,
      (e: { status?: number }) => (e.status === 404 ? false : Promise.reject(e)),
    );
    if (found) continue;
    await api.json('POST', '/volumes/create', { body: { Name: claim, Driver: 'local', Labels: { [LABEL_CLAIM]: claim, [LABEL_FILE]: file } } });
    made.push(claim);
  }
  return made;
}

async function playPod(api: EngineApi, m: Manifest, pod: Pod, o: PlayOptions, imageUser: (image: string) => string): Promise<PlayedPod> {
  const volumeNames: Record<string, string> = {};
  try {
    for (const [name, v] of Object.entries(pod.spec.volumes)) {
      if (v.type === 'claim') volumeNames[name] = v.claim;
      if (v.type !== 'emptyDir') continue;
      // An emptyDir lives as long as the pod: a volume of its own, removed by kube down.
      volumeNames[name] = `${pod.name}-${name}`;
      const tmpfs = v.memory ? { type: 'tmpfs', device: 'tmpfs', ...(v.sizeLimit ? { o: `size=${v.sizeLimit}` } : {}) } : undefined;
      await api.json('POST', '/volumes/create', { body: { Name: volumeNames[name], Driver: 'local', DriverOpts: tmpfs, Labels: { [LABEL_POD]: pod.name, [LABEL_FILE]: o.file } } });
    }
    const ctx: PodContext = { manifest: m, file: o.file, volumeNames, imageUser };
    const infra = await create(api, infraName(pod), infraBody(pod, ctx, nodePortServices(m, pod)));
    await api.call('POST', `/containers/${infra}/start`);
    ctx.podIP = await api
      .json<{ NetworkSettings?: { Networks?: Record<string, { IPAddress?: string }> } }>('GET', `/containers/${infra}/json`)
      .then((i) => i.NetworkSettings?.Networks?.[KUBE_NETWORK]?.IPAddress || '127.0.0.1');
    for (const c of pod.spec.initContainers) {
      const id = await create(api, containerName(pod, c), containerBody(pod, c, ctx, true));
      await putFiles(api, id, podFiles(pod, c, m));
      await api.call('POST', `/containers/${id}/start`);
      const r = await api.json<{ StatusCode: number }>('POST', `/containers/${id}/wait`, { query: { condition: 'not-running' } });
      if (r.StatusCode !== 0) {
        const tail = (await o.logs(id).catch(() => '')).trim();
        throw new KubeError(`pod ${pod.name}: init container ${c.name} exited with code ${r.StatusCode}${tail ? `:\n${tail}` : ''}`);
      }
      // Init containers run once (Podman's default): gone when they have done their work.
      await api.call('DELETE', `/containers/${id}`, { query: { v: true } });
    }
    const ids: string[] = [];
    for (const c of pod.spec.containers) {
      const id = await create(api, containerName(pod, c), containerBody(pod, c, ctx, false));
      await putFiles(api, id, podFiles(pod, c, m));
      ids.push(id);
    }
    for (const id of ids) await api.call('POST', `/containers/${id}/start`);
    return { name: pod.name, id: infra, containers: ids };
  } catch (e) {
    await removePod(api, pod).catch(() => undefined);
    throw e;
  }
}

/** NodePort Services this pod publishes: each on the first pod it selects. */
function nodePortServices(m: Manifest, pod: Pod): Service[] {
  return m.services.filter((s) => s.type === 'NodePort' && m.pods.find((p) => servicesOf(p, [s]).length) === pod);
}

async function create(api: EngineApi, name: string, body: Record<string, unknown>): Promise<string> {
  return (await api.json<{ Id: string }>('POST', '/containers/create', { query: { name }, body })).Id;
}

/** A pod's containers: labelled with its name and the object that made it. */
async function podContainers(api: EngineApi, pod: Pod): Promise<ContainerSummary[]> {
  const label = [`${LABEL_POD}=${pod.name}`, `${LABEL_OWNER}=${pod.owner.kind}/${pod.owner.name}`];
  return api.json<ContainerSummary[]>('GET', '/containers/json', { query: { all: true, filters: JSON.stringify({ label }) } });
}

export interface DownOptions {
  /** Also the volumes kube play made for PersistentVolumeClaims (Podman's `kube down --force`). */
  volumes?: boolean;
}

export interface DownResult {
  /** IDs of the pods taken down (their infra containers'). */
  pods: string[];
  volumes: string[];
}

export async function down(api: EngineApi, m: Manifest, o: DownOptions): Promise<DownResult> {
  const result: DownResult = { pods: [], volumes: [] };
  // Pods side by side: each stop may wait out a grace period.
  for (const id of await Promise.all(m.pods.map((pod) => removePod(api, pod)))) if (id) result.pods.push(id);
  if (o.volumes) {
    const claims = new Set(m.pods.flatMap((p) => Object.values(p.spec.volumes).flatMap((v) => (v.type === 'claim' ? [v.claim] : []))));
    const made = await api.json<{ Volumes: Array<{ Name: string }> | null }>('GET', '/volumes', { query: { filters: JSON.stringify({ label: [LABEL_CLAIM] }) } });
    for (const v of made.Volumes ?? []) {
      if (!claims.has(v.Name)) continue;
      await api.call('DELETE', `/volumes/${encodeURIComponent(v.Name)}`);
      result.volumes.push(v.Name);
    }
  }
  // The shared network goes with the last pod (another play may still use it: then it stays).
  const left = await api.json<ContainerSummary[]>('GET', '/containers/json', { query: { all: true, filters: JSON.stringify({ label: [LABEL_POD] }) } });
  if (!left.length) await api.call('DELETE', `/networks/${KUBE_NETWORK}`).catch(() => undefined);
  return result;
}

/** Stops and removes a pod's containers (its own first, the infra last) and its emptyDir volumes; returns the pod's ID. */
async function removePod(api: EngineApi, pod: Pod): Promise<string | undefined> {
  const list = await podContainers(api, pod);
  const infra = list.find((c) => c.Names.some((n) => n.replace(/^\//, '') === infraName(pod)));
  const t = pod.spec.terminationGracePeriodSeconds ?? 10;
  const remove = async (c: ContainerSummary) => {
    await api.call('POST', `/containers/${c.Id}/stop`, { query: { t } }).catch((e: { status?: number }) => {
      if (e.status !== 304 && e.status !== 409 && e.status !== 404) throw e;
    });
    await api.call('DELETE', `/containers/${c.Id}`, { query: { force: true, v: true } });
  };
  // The pod's containers together, then the infra whose namespaces they were in.
  await Promise.all(list.filter((x) => x !== infra).map(remove));
  if (infra) await remove(infra);
  const vols = await api.json<{ Volumes: Array<{ Name: string }> | null }>('GET', '/volumes', { query: { filters: JSON.stringify({ label: [`${LABEL_POD}=${pod.name}`] }) } });
  for (const v of vols.Volumes ?? []) await api.call('DELETE', `/volumes/${encodeURIComponent(v.Name)}`);
  return list.length ? (infra?.Id ?? list[0]!.Id) : undefined;
}
