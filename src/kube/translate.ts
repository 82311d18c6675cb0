/**
 * A pod as Engine API create bodies. A pod is one network namespace (and its
 * IPC namespace and hostname): an infra container owns them, publishes the
 * pod's ports and sits on the kube network under the pod's and its Services'
 * names; the pod's containers join it with `container:<infra>`, as Podman's
 * pods do. Pure: play.ts sends what these return.
 */
import { hostname } from 'node:os';
import type { ContainerFile } from '../compose/project';
import { KubeError, type Container, type Manifest, type Pod, type Probe, type RestartPolicy, type Service } from './model';

export const LABEL_POD = 'io.berth.kube.pod';
export const LABEL_OWNER = 'io.berth.kube.owner';
export const LABEL_FILE = 'io.berth.kube.file';
export const LABEL_ROLE = 'io.berth.kube.role';
/** On a volume kube play made for a PersistentVolumeClaim (kept by `kube down`, as Podman keeps them). */
export const LABEL_CLAIM = 'io.berth.kube.claim';
export const LABEL_NETWORK = 'io.berth.kube.network';

/** The network pods share, so they reach each other (and their Services) by name. */
export const KUBE_NETWORK = 'berth-kube';
export const INFRA_IMAGE = 'localhost/berth-pause:1';

/** What a pod's containers are made with, besides the pod itself. */
export interface PodContext {
  manifest: Manifest;
  /** kube play's input: a file's absolute path, or "-" for stdin. */
  file: string;
  /** Engine volume names of the pod's emptyDir and claim volumes, by pod volume name. */
  volumeNames: Record<string, string>;
  /** The infra container's address on the kube network (status.podIP). */
  podIP?: string;
  /** USER of each image, for runAsGroup without runAsUser. */
  imageUser: (image: string) => string;
}

export type CreateBody = Record<string, unknown>;

export function infraName(pod: Pod): string {
  return `${pod.name}-infra`;
}

export function containerName(pod: Pod, c: Container): string {
  return `${pod.name}-${c.name}`;
}

export function podLabels(pod: Pod, file: string, role: 'infra' | 'init' | 'container'): Record<string, string> {
  return { ...pod.labels, [LABEL_POD]: pod.name, [LABEL_OWNER]: `${pod.owner.kind}/${pod.owner.name}`, [LABEL_FILE]: file, [LABEL_ROLE]: role };
}

/** Services that select this pod (a non-empty selector, every label matching). */
export function servicesOf(pod: Pod, services: Service[]): Service[] {
  return services.filter((s) => Object.keys(s.selector).length && Object.entries(s.selector).every(([k, v]) => pod.labels[k] === v));
}

/**
 * The infra container: ports of every container (hostPorts published), the nodePorts
 * of `nodePorts` (NodePort Services this pod answers for), aliases for the pod and its Services.
 */
export function infraBody(pod: Pod, ctx: PodContext, nodePorts: Service[]): CreateBody {
  const exposed: Record<string, object> = {};
  const bindings: Record<string, Array<{ HostIp: string; HostPort: string }>> = {};
  const all = pod.spec.containers.flatMap((c) => c.ports);
  for (const p of all) {
    const key = `${p.containerPort}/${p.protocol}`;
    exposed[key] = {};
    if (p.hostPort !== undefined) (bindings[key] ??= []).push({ HostIp: p.hostIP ?? '', HostPort: String(p.hostPort) });
  }
  const services = servicesOf(pod, ctx.manifest.services);
  for (const s of nodePorts)
    for (const p of s.ports.filter((x) => x.nodePort !== undefined)) {
      const target = typeof p.targetPort === 'number' ? p.targetPort : all.find((x) => x.name === p.targetPort)?.containerPort;
      if (target === undefined) throw new KubeError(`Service ${s.name}: targetPort "${p.targetPort}" names no port of pod ${pod.name}`);
      const key = `${target}/${p.protocol}`;
      exposed[key] = {};
      (bindings[key] ??= []).push({ HostIp: '', HostPort: String(p.nodePort) });
    }
  const host = pod.spec.hostNetwork;
  const aliases = [...new Set([pod.name, ...(pod.spec.hostname ? [pod.spec.hostname] : []), ...services.map((s) => s.name)])];
  return {
    Image: INFRA_IMAGE,
    Hostname: host ? undefined : (pod.spec.hostname ?? pod.name),
    ExposedPorts: host ? undefined : exposed,
    Labels: podLabels(pod, ctx.file, 'infra'),
    HostConfig: {
      NetworkMode: host ? 'host' : KUBE_NETWORK,
      PortBindings: host ? undefined : bindings,
      IpcMode: 'shareable',
      ExtraHosts: pod.spec.hostAliases.flatMap((a) => a.hostnames.map((h) => `${h}:${a.ip}`)),
      // A pod's namespaces must outlive its containers' restarts.
      RestartPolicy: { Name: 'always', MaximumRetryCount: 0 },
    },
    NetworkingConfig: host ? undefined : { EndpointsConfig: { [KUBE_NETWORK]: { Aliases: aliases } } },
  };
}

const RESTART: Record<RestartPolicy, string> = { Always: 'always', OnFailure: 'on-failure', Never: 'no' };

/** An init or app container of the pod, in the infra container's namespaces. */
export function containerBody(pod: Pod, c: Container, ctx: PodContext, init: boolean): CreateBody {
  const env = environment(pod, c, ctx);
  const expand = (list: string[] | undefined) => list?.map((s) => expandRefs(s, env));
  const sc = c.securityContext;
  const uid = sc.runAsUser ?? pod.spec.runAsUser;
  const gid = sc.runAsGroup ?? pod.spec.runAsGroup;
  const user = uid !== undefined ? `${uid}${gid !== undefined ? `:${gid}` : ''}` : gid !== undefined ? `${ctx.imageUser(c.image).split(':')[0] || '0'}:${gid}` : undefined;
  const infra = `container:${infraName(pod)}`;
  const { binds, mounts } = volumeMounts(pod, c, ctx);
  return {
    Image: c.image,
    Entrypoint: expand(c.command),
    Cmd: expand(c.args),
    Env: Object.entries(env).map(([k, v]) => `${k}=${v}`),
    WorkingDir: c.workingDir ?? '',
    User: user ?? '',
    Tty: c.tty,
    OpenStdin: c.stdin,
    AttachStdin: false,
    StopTimeout: pod.spec.terminationGracePeriodSeconds,
    Healthcheck: c.livenessProbe && !init ? healthcheck(c.livenessProbe, c) : undefined,
    Labels: podLabels(pod, ctx.file, init ? 'init' : 'container'),
    HostConfig: {
      NetworkMode: infra,
      IpcMode: infra,
      PidMode: pod.spec.shareProcessNamespace ? infra : undefined,
      Binds: binds,
      Mounts: mounts,
      RestartPolicy: { Name: init ? 'no' : RESTART[pod.spec.restartPolicy], MaximumRetryCount: 0 },
      Privileged: !!sc.privileged,
      ReadonlyRootfs: !!sc.readOnlyRootFilesystem,
      CapAdd: sc.capAdd.map(cap),
      CapDrop: sc.capDrop.map(cap),
      GroupAdd: [...pod.spec.supplementalGroups, ...(pod.spec.fsGroup !== undefined ? [pod.spec.fsGroup] : [])].map(String),
      Memory: c.resources.memory,
      MemoryReservation: c.resources.memoryReservation,
      NanoCpus: c.resources.nanoCpus,
      CpuShares: c.resources.cpuShares,
    },
  };
}

/** Kubernetes writes capabilities without CAP_ (NET_ADMIN), and ALL; Docker takes both. */
function cap(name: string): string {
  return name === 'ALL' || name.startsWith('CAP_') ? name : `CAP_${name}`;
}

/** envFrom first, then env over it, as the kubelet builds it; $(VAR) refers to what came before. */
export function environment(pod: Pod, c: Container, ctx: PodContext): Record<string, string> {
  const m = ctx.manifest;
  const env: Record<string, string> = {};
  for (const e of c.envFrom) {
    const data = (e.kind === 'configMap' ? m.configMaps : m.secrets).get(e.name);
    for (const [k, v] of data ?? []) env[e.prefix + k] = v.toString('utf8');
  }
  for (const e of c.env) {
    let v: string | undefined;
    if (e.configMapKeyRef) v = m.configMaps.get(e.configMapKeyRef.name)?.get(e.configMapKeyRef.key)?.toString('utf8');
    else if (e.secretKeyRef) v = m.secrets.get(e.secretKeyRef.name)?.get(e.secretKeyRef.key)?.toString('utf8');
    else if (e.fieldPath) v = field(pod, e.fieldPath, ctx);
    else v = expandRefs(e.value ?? '', env);
    // An optional reference that is missing leaves the variable unset, as in Kubernetes.
    if (v !== undefined) env[e.name] = v;
  }
  return env;
}

function field(pod: Pod, path: string, ctx: PodContext): string {
  const label = /^metadata\.labels\['([^']+)'\]$/.exec(path);
  if (label) return pod.labels[label[1]!] ?? '';
  if (path === 'metadata.name') return pod.name;
  if (path === 'metadata.namespace') return 'default';
  if (path === 'spec.nodeName') return hostname();
  if (path === 'status.podIP') return ctx.podIP ?? '';
  if (path === 'status.hostIP') return '127.0.0.1';
  throw new KubeError(`pod ${pod.name}: fieldRef ${path} is not supported`);
}

/** Kubernetes' $(VAR) expansion: a defined variable is replaced, $$ escapes, anything else stays as written. */
export function expandRefs(s: string, env: Record<string, string>): string {
  return s.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g, (whole, name: string | undefined) => (name === undefined ? '$' : (env[name] ?? whole)));
}

/** emptyDir and claims as volumes, hostPath as binds; configMap and secret volumes are files (podFiles). */
function volumeMounts(pod: Pod, c: Container, ctx: PodContext): { binds: string[]; mounts: Array<Record<string, unknown>> } {
  const binds: string[] = [];
  const mounts: Array<Record<string, unknown>> = [];
  for (const vm of c.volumeMounts) {
    const v = pod.spec.volumes[vm.name]!;
    if (v.type === 'hostPath') {
      const src = vm.subPath ? `${v.path.replace(/\/+$/, '')}/${vm.subPath}` : v.path;
      binds.push(`${src}:${vm.mountPath}${vm.readOnly ? ':ro' : ''}`);
    } else if (v.type === 'emptyDir' || v.type === 'claim') {
      if (vm.subPath) throw new KubeError(`pod ${pod.name}: container ${c.name}: subPath on a${v.type === 'claim' ? ' persistentVolumeClaim' : 'n emptyDir'} volume is not supported`);
      mounts.push({ Type: 'volume', Source: ctx.volumeNames[vm.name], Target: vm.mountPath, ReadOnly: vm.readOnly || (v.type === 'claim' && v.readOnly) });
    }
  }
  return { binds, mounts };
}

/** configMap and secret volumes as the files the container sees: one per key (or item) under the mount path, owned by root and fsGroup. */
export function podFiles(pod: Pod, c: Container, m: Manifest): ContainerFile[] {
  const files: ContainerFile[] = [];
  const gid = pod.spec.fsGroup ?? 0;
  for (const vm of c.volumeMounts) {
    const v = pod.spec.volumes[vm.name]!;
    if (v.type !== 'configMap' && v.type !== 'secret') continue;
    const data = (v.type === 'configMap' ? m.configMaps : m.secrets).get(v.name);
    if (!data) continue;
    const items = v.items ?? [...data.keys()].map((key) => ({ key, path: key, mode: undefined }));
    const base = vm.mountPath.replace(/\/+$/, '');
    for (const it of items) {
      const content = data.get(it.key);
      if (content === undefined) continue;
      // With subPath the mount is the one file at that path of the volume.
      if (vm.subPath) {
        if (it.path === vm.subPath) files.push({ target: vm.mountPath, mode: it.mode ?? v.defaultMode, gid, content });
        continue;
      }
      files.push({ target: `${base}/${it.path}`, mode: it.mode ?? v.defaultMode, gid, content });
    }
  }
  return files;
}

/** A livenessProbe as a HEALTHCHECK (Docker marks the container unhealthy where the kubelet would restart it). */
export function healthcheck(p: Probe, c: Container): { Test: string[]; Interval: number; Timeout: number; Retries: number; StartPeriod: number } | undefined {
  let test: string[] | undefined;
  if (p.exec) test = ['CMD', ...p.exec];
  else if (p.httpGet) {
    const port = typeof p.httpGet.port === 'number' ? p.httpGet.port : c.ports.find((x) => x.name === p.httpGet!.port)?.containerPort;
    if (port === undefined) throw new KubeError(`container ${c.name}: livenessProbe.httpGet.port "${p.httpGet.port}" names no port of the container`);
    const url = `${p.httpGet.scheme.toLowerCase()}://127.0.0.1:${port}${p.httpGet.path.startsWith('/') ? '' : '/'}${p.httpGet.path}`;
    // The image brings its own client: busybox and alpine have wget, most others curl.
    test = ['CMD-SHELL', `wget -q -O /dev/null '${url}' 2>/dev/null || curl -fsS -o /dev/null '${url}'`];
  }
  if (!test) return undefined;
  const s = 1e9;
  return { Test: test, Interval: (p.periodSeconds ?? 10) * s, Timeout: (p.timeoutSeconds ?? 1) * s, Retries: p.failureThreshold ?? 3, StartPeriod: (p.initialDelaySeconds ?? 0) * s };
}
