/**
 * The subset of Kubernetes objects `berth kube play` runs, as typed, checked
 * values. Every field Berth acts on is checked here, before anything is made,
 * so a bad manifest fails whole with the document and field it is about; the
 * fields Berth does not use are ignored, as a kubelet ignores what it does not know.
 */
import { InvalidArgumentError } from '../errors';
import { memoryBytes, nanoCpus } from './quantity';

export class KubeError extends InvalidArgumentError {}

export interface KeyRef {
  name: string;
  key: string;
  optional: boolean;
}

export interface EnvVar {
  name: string;
  value?: string;
  configMapKeyRef?: KeyRef;
  secretKeyRef?: KeyRef;
  fieldPath?: string;
}

export interface EnvFrom {
  prefix: string;
  kind: 'configMap' | 'secret';
  name: string;
  optional: boolean;
}

export interface ContainerPort {
  name?: string;
  containerPort: number;
  hostPort?: number;
  hostIP?: string;
  protocol: 'tcp' | 'udp';
}

export interface VolumeMount {
  name: string;
  mountPath: string;
  readOnly: boolean;
  subPath?: string;
}

export interface Probe {
  exec?: string[];
  httpGet?: { path: string; port: number | string; scheme: string };
  initialDelaySeconds?: number;
  periodSeconds?: number;
  timeoutSeconds?: number;
  failureThreshold?: number;
}

export interface SecurityContext {
  runAsUser?: number;
  runAsGroup?: number;
  privileged?: boolean;
  readOnlyRootFilesystem?: boolean;
  capAdd: string[];
  capDrop: string[];
}

export interface Container {
  name: string;
  image: string;
  imagePullPolicy: 'Always' | 'IfNotPresent' | 'Never';
  command?: string[];
  args?: string[];
  workingDir?: string;
  env: EnvVar[];
  envFrom: EnvFrom[];
  ports: ContainerPort[];
  volumeMounts: VolumeMount[];
  resources: Resources;
  securityContext: SecurityContext;
  tty: boolean;
  stdin: boolean;
  livenessProbe?: Probe;
}

/** resources.limits and .requests as the Engine API takes them. */
export interface Resources {
  memory?: number;
  nanoCpus?: number;
  memoryReservation?: number;
  cpuShares?: number;
}

export interface KeyToPath {
  key: string;
  path: string;
  mode?: number;
}

export type VolumeSource =
  | { type: 'emptyDir'; memory: boolean; sizeLimit?: number }
  | { type: 'hostPath'; path: string }
  | { type: 'claim'; claim: string; readOnly: boolean }
  | { type: 'configMap' | 'secret'; name: string; items?: KeyToPath[]; defaultMode: number; optional: boolean };

export type RestartPolicy = 'Always' | 'OnFailure' | 'Never';

export interface PodSpec {
  containers: Container[];
  initContainers: Container[];
  volumes: Record<string, VolumeSource>;
  restartPolicy: RestartPolicy;
  hostname?: string;
  hostNetwork: boolean;
  shareProcessNamespace: boolean;
  runAsUser?: number;
  runAsGroup?: number;
  supplementalGroups: number[];
  /** The group that owns configMap and secret files; every container joins it. */
  fsGroup?: number;
  terminationGracePeriodSeconds?: number;
  hostAliases: Array<{ ip: string; hostnames: string[] }>;
}

export interface Pod {
  name: string;
  /** The object that asked for it: a Pod itself, or a Deployment, StatefulSet, … */
  owner: { kind: string; name: string };
  labels: Record<string, string>;
  spec: PodSpec;
}

export interface ServicePort {
  port: number;
  targetPort: number | string;
  nodePort?: number;
  protocol: 'tcp' | 'udp';
}

export interface Service {
  name: string;
  type: string;
  selector: Record<string, string>;
  ports: ServicePort[];
}

/** Everything a YAML stream asks for, checked and cross-referenced. */
export interface Manifest {
  pods: Pod[];
  configMaps: Map<string, Map<string, Buffer>>;
  secrets: Map<string, Map<string, Buffer>>;
  /** PersistentVolumeClaims the stream declares (volumes named after them). */
  claims: string[];
  services: Service[];
  warnings: string[];
}

/** Kinds whose spec.template is a pod; StatefulSets, Deployments and ReplicaSets honour spec.replicas. */
const WORKLOADS = new Set(['Deployment', 'ReplicaSet', 'StatefulSet', 'DaemonSet', 'Job']);
const SUBDOMAIN = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;
const LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
/** The downward-API fields a pod on one machine can answer. */
export const FIELDS = /^(metadata\.name|metadata\.namespace|metadata\.labels\['[^']+'\]|spec\.nodeName|status\.podIP|status\.hostIP)$/;

/** Typed reads of one document's plain values; a failure names the document and the field. */
class Reader {
  constructor(readonly where: string) {}

  fail(path: string, msg: string): never {
    throw new KubeError(`${this.where}: ${path}: ${msg}`);
  }

  obj(v: unknown, path: string): Record<string, unknown> | undefined {
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'object' || Array.isArray(v)) this.fail(path, 'must be a mapping');
    return v as Record<string, unknown>;
  }

  arr(v: unknown, path: string): unknown[] {
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v)) this.fail(path, 'must be a list');
    return v;
  }

  str(v: unknown, path: string): string | undefined;
  str(v: unknown, path: string, required: true): string;
  str(v: unknown, path: string, required = false): string | undefined {
    if (v === undefined || v === null) return required ? this.fail(path, 'is required') : undefined;
    if (typeof v !== 'string') this.fail(path, 'must be a string');
    if (required && !v) this.fail(path, 'must not be empty');
    return v;
  }

  /** A value Kubernetes takes as a string but YAML authors often leave unquoted (env values). */
  scalar(v: unknown, path: string): string | undefined {
    if (typeof v === 'number' || typeof v === 'boolean') return String(v);
    return this.str(v, path);
  }

  int(v: unknown, path: string, min = 0, max = Number.MAX_SAFE_INTEGER): number | undefined {
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) this.fail(path, `must be an integer from ${min} to ${max}`);
    return v;
  }

  bool(v: unknown, path: string): boolean {
    if (v === undefined || v === null) return false;
    if (typeof v !== 'boolean') this.fail(path, 'must be true or false');
    return v;
  }

  strs(v: unknown, path: string): string[] | undefined {
    if (v === undefined || v === null) return undefined;
    return this.arr(v, path).map((x, i) => this.scalar(x, `${path}[${i}]`) ?? this.fail(`${path}[${i}]`, 'must be a string'));
  }

  strMap(v: unknown, path: string): Record<string, string> {
    const o = this.obj(v, path) ?? {};
    return Object.fromEntries(Object.entries(o).map(([k, x]) => [k, this.scalar(x, `${path}.${k}`) ?? '']));
  }

  oneOf<T extends string>(v: unknown, path: string, values: readonly T[], dflt: T): T {
    const s = this.str(v, path) ?? dflt;
    if (!values.includes(s as T)) this.fail(path, `must be one of ${values.join(', ')} (got "${s}")`);
    return s as T;
  }

  name(v: unknown, path: string, re = SUBDOMAIN): string {
    const s = this.str(v, path, true);
    if (!re.test(s) || s.length > 253) this.fail(path, `"${s}" is not a valid name (lowercase letters, digits and '-')`);
    return s;
  }
}

/** Parses and checks a multi-document YAML stream; throws a KubeError before anything could be made. */
export function parseManifest(text: string): Manifest {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const YAML = require('yaml') as typeof import('yaml');
  const m: Manifest = { pods: [], configMaps: new Map(), secrets: new Map(), claims: [], services: [], warnings: [] };
  // YAML 1.1, as Kubernetes reads it: `defaultMode: 0400` is octal there (1.2 would read 400).
  const docs = YAML.parseAllDocuments(text, { version: '1.1' });
  docs.forEach((doc, i) => {
    const err = doc.errors[0];
    if (err) throw new KubeError(`document ${i + 1}: invalid YAML: ${err.message}`);
    const value: unknown = doc.toJS();
    if (value === null || value === undefined) return;
    readDocument(value, i + 1, m);
  });
  if (!m.pods.length) throw new KubeError('no pods: the YAML has no Pod, Deployment, StatefulSet, DaemonSet or Job');
  checkReferences(m);
  const names = new Set<string>();
  for (const p of m.pods) {
    if (names.has(p.name)) throw new KubeError(`pod ${p.name} is defined twice (by ${p.owner.kind} ${p.owner.name})`);
    names.add(p.name);
  }
  return m;
}

function readDocument(value: unknown, n: number, m: Manifest): void {
  const top = new Reader(`document ${n}`);
  const o = top.obj(value, '(top)') ?? top.fail('(top)', 'must be a mapping');
  const kind = top.str(o.kind, 'kind', true);
  const meta = top.obj(o.metadata, 'metadata') ?? top.fail('metadata', 'is required');
  const name = top.name(meta.name, 'metadata.name');
  const r = new Reader(`document ${n} (${kind} "${name}")`);
  const spec = r.obj(o.spec, 'spec');
  if (kind === 'Pod') {
    m.pods.push({ name, owner: { kind, name }, labels: r.strMap(meta.labels, 'metadata.labels'), spec: readPodSpec(r, spec ?? r.fail('spec', 'is required'), 'spec') });
  } else if (WORKLOADS.has(kind)) {
    const tmpl = r.obj(spec?.template, 'spec.template') ?? r.fail('spec.template', 'is required');
    const tmeta = r.obj(tmpl.metadata, 'spec.template.metadata') ?? {};
    const templates = kind === 'StatefulSet' ? r.arr(spec?.volumeClaimTemplates, 'spec.volumeClaimTemplates').map((t, i) => claimTemplate(r, t, `spec.volumeClaimTemplates[${i}]`)) : [];
    const podSpec = readPodSpec(r, r.obj(tmpl.spec, 'spec.template.spec') ?? r.fail('spec.template.spec', 'is required'), 'spec.template.spec', templates);
    const replicas = kind === 'DaemonSet' || kind === 'Job' ? 1 : (r.int(spec?.replicas, 'spec.replicas', 0, 1000) ?? 1);
    if (kind === 'DaemonSet') m.warnings.push(`DaemonSet ${name}: one pod (this is one node)`);
    if (kind === 'Job' && podSpec.restartPolicy === 'Always') r.fail('spec.template.spec.restartPolicy', 'a Job takes OnFailure or Never');
    for (let i = 0; i < replicas; i++) {
      // StatefulSet pods are <name>-0, -1, … as in Kubernetes; other workloads' <name>-1, -2, … (as compose numbers replicas).
      const pod = kind === 'StatefulSet' ? `${name}-${i}` : `${name}-${i + 1}`;
      const volumes = { ...podSpec.volumes };
      // Each StatefulSet pod has claims of its own, named <template>-<pod> as Kubernetes names them.
      for (const t of templates) volumes[t] = { type: 'claim', claim: `${t}-${pod}`, readOnly: false };
      m.pods.push({ name: pod, owner: { kind, name }, labels: r.strMap(tmeta.labels, 'spec.template.metadata.labels'), spec: { ...podSpec, volumes } });
    }
  } else if (kind === 'ConfigMap' || kind === 'Secret') {
    const data = new Map<string, Buffer>();
    const encoded = kind === 'Secret';
    for (const [k, v] of Object.entries(r.obj(o.data, 'data') ?? {})) {
      const s = r.scalar(v, `data.${k}`) ?? '';
      if (encoded && !/^[A-Za-z0-9+/\s]*=*\s*$/.test(s)) r.fail(`data.${k}`, 'is not base64 (use stringData for plain text)');
      data.set(k, encoded ? Buffer.from(s, 'base64') : Buffer.from(s));
    }
    for (const [k, v] of Object.entries(r.obj(o.binaryData, 'binaryData') ?? {})) data.set(k, Buffer.from(r.str(v, `binaryData.${k}`) ?? '', 'base64'));
    if (encoded) for (const [k, v] of Object.entries(r.obj(o.stringData, 'stringData') ?? {})) data.set(k, Buffer.from(r.scalar(v, `stringData.${k}`) ?? ''));
    (encoded ? m.secrets : m.configMaps).set(name, data);
  } else if (kind === 'PersistentVolumeClaim') {
    m.claims.push(name);
  } else if (kind === 'Service') {
    m.services.push(readService(r, name, spec ?? {}));
  } else {
    m.warnings.push(`${kind} ${name}: kind ${kind} is not supported by kube play; ignored`);
  }
}

function claimTemplate(r: Reader, t: unknown, p: string): string {
  const meta = r.obj(r.obj(t, p)?.metadata, `${p}.metadata`) ?? {};
  return r.name(meta.name, `${p}.metadata.name`, LABEL);
}

function readService(r: Reader, name: string, spec: Record<string, unknown>): Service {
  return {
    name,
    type: r.str(spec.type, 'spec.type') ?? 'ClusterIP',
    selector: r.strMap(spec.selector, 'spec.selector'),
    ports: r.arr(spec.ports, 'spec.ports').map((x, i) => {
      const p = `spec.ports[${i}]`;
      const o = r.obj(x, p) ?? {};
      const port = r.int(o.port, `${p}.port`, 1, 65535) ?? r.fail(`${p}.port`, 'is required');
      const target = typeof o.targetPort === 'string' ? o.targetPort : (r.int(o.targetPort, `${p}.targetPort`, 1, 65535) ?? port);
      return { port, targetPort: target, nodePort: r.int(o.nodePort, `${p}.nodePort`, 1, 65535), protocol: protocol(r, o.protocol, `${p}.protocol`) };
    }),
  };
}

function protocol(r: Reader, v: unknown, path: string): 'tcp' | 'udp' {
  const p = r.oneOf(v, path, ['TCP', 'UDP', 'SCTP'] as const, 'TCP');
  if (p === 'SCTP') r.fail(path, 'SCTP is not supported');
  return p === 'UDP' ? 'udp' : 'tcp';
}

/** `claimTemplates`: a StatefulSet's volumeClaimTemplates, volumes its containers may mount (each pod's claim is set later). */
function readPodSpec(r: Reader, spec: Record<string, unknown>, at: string, claimTemplates: string[] = []): PodSpec {
  const volumes: Record<string, VolumeSource> = Object.fromEntries(claimTemplates.map((t) => [t, { type: 'claim', claim: t, readOnly: false }]));
  r.arr(spec.volumes, `${at}.volumes`).forEach((v, i) => {
    const p = `${at}.volumes[${i}]`;
    const o = r.obj(v, p) ?? {};
    const name = r.name(o.name, `${p}.name`, LABEL);
    if (volumes[name]) r.fail(`${p}.name`, `volume "${name}" is defined twice`);
    volumes[name] = readVolume(r, o, p);
  });
  const containers = r.arr(spec.containers, `${at}.containers`);
  if (!containers.length) r.fail(`${at}.containers`, 'a pod needs at least one container');
  const sc = r.obj(spec.securityContext, `${at}.securityContext`) ?? {};
  const read = (list: unknown[], key: string) => list.map((c, i) => readContainer(r, c, `${at}.${key}[${i}]`, volumes));
  const s: PodSpec = {
    containers: read(containers, 'containers'),
    initContainers: read(r.arr(spec.initContainers, `${at}.initContainers`), 'initContainers'),
    volumes,
    restartPolicy: r.oneOf(spec.restartPolicy, `${at}.restartPolicy`, ['Always', 'OnFailure', 'Never'] as const, 'Always'),
    hostname: spec.hostname === undefined ? undefined : r.name(spec.hostname, `${at}.hostname`, LABEL),
    hostNetwork: r.bool(spec.hostNetwork, `${at}.hostNetwork`),
    shareProcessNamespace: r.bool(spec.shareProcessNamespace, `${at}.shareProcessNamespace`),
    runAsUser: r.int(sc.runAsUser, `${at}.securityContext.runAsUser`),
    runAsGroup: r.int(sc.runAsGroup, `${at}.securityContext.runAsGroup`),
    supplementalGroups: r.arr(sc.supplementalGroups, `${at}.securityContext.supplementalGroups`).map((g, i) => r.int(g, `${at}.securityContext.supplementalGroups[${i}]`)!),
    fsGroup: r.int(sc.fsGroup, `${at}.securityContext.fsGroup`),
    terminationGracePeriodSeconds: r.int(spec.terminationGracePeriodSeconds, `${at}.terminationGracePeriodSeconds`),
    hostAliases: r.arr(spec.hostAliases, `${at}.hostAliases`).map((h, i) => {
      const o = r.obj(h, `${at}.hostAliases[${i}]`) ?? {};
      return { ip: r.str(o.ip, `${at}.hostAliases[${i}].ip`, true), hostnames: r.strs(o.hostnames, `${at}.hostAliases[${i}].hostnames`) ?? [] };
    }),
  };
  const seen = new Set<string>();
  for (const c of [...s.initContainers, ...s.containers]) {
    if (seen.has(c.name)) r.fail(at, `container name "${c.name}" is used twice`);
    seen.add(c.name);
  }
  return s;
}

function readVolume(r: Reader, o: Record<string, unknown>, p: string): VolumeSource {
  if (o.emptyDir !== undefined) {
    const e = r.obj(o.emptyDir, `${p}.emptyDir`) ?? {};
    const medium = r.oneOf(e.medium, `${p}.emptyDir.medium`, ['', 'Memory'] as const, '');
    const size = e.sizeLimit === undefined ? undefined : memoryBytes(e.sizeLimit as string);
    if (e.sizeLimit !== undefined && size === undefined) r.fail(`${p}.emptyDir.sizeLimit`, `"${String(e.sizeLimit)}" is not a quantity`);
    return { type: 'emptyDir', memory: medium === 'Memory', sizeLimit: size };
  }
  if (o.hostPath !== undefined) {
    const h = r.obj(o.hostPath, `${p}.hostPath`) ?? {};
    const path = r.str(h.path, `${p}.hostPath.path`, true);
    if (!path.startsWith('/')) r.fail(`${p}.hostPath.path`, 'must be an absolute path');
    return { type: 'hostPath', path };
  }
  if (o.persistentVolumeClaim !== undefined) {
    const c = r.obj(o.persistentVolumeClaim, `${p}.persistentVolumeClaim`) ?? {};
    return { type: 'claim', claim: r.name(c.claimName, `${p}.persistentVolumeClaim.claimName`), readOnly: r.bool(c.readOnly, `${p}.persistentVolumeClaim.readOnly`) };
  }
  for (const type of ['configMap', 'secret'] as const) {
    if (o[type] === undefined) continue;
    const at = `${p}.${type}`;
    const c = r.obj(o[type], at) ?? {};
    const items = c.items === undefined ? undefined : r.arr(c.items, `${at}.items`).map((x, i) => {
      const it = r.obj(x, `${at}.items[${i}]`) ?? {};
      const path = r.str(it.path, `${at}.items[${i}].path`, true);
      if (path.startsWith('/') || path.split('/').includes('..')) r.fail(`${at}.items[${i}].path`, 'must be a relative path without ".."');
      return { key: r.str(it.key, `${at}.items[${i}].key`, true), path, mode: r.int(it.mode, `${at}.items[${i}].mode`, 0, 0o777) };
    });
    const name = r.name(type === 'secret' ? c.secretName : c.name, `${at}.${type === 'secret' ? 'secretName' : 'name'}`);
    return { type, name, items, defaultMode: r.int(c.defaultMode, `${at}.defaultMode`, 0, 0o777) ?? 0o644, optional: r.bool(c.optional, `${at}.optional`) };
  }
  const kinds = Object.keys(o).filter((k) => k !== 'name');
  return r.fail(p, `volume type ${kinds.join(', ') || '(none)'} is not supported (emptyDir, hostPath, persistentVolumeClaim, configMap, secret are)`);
}

function keyRef(r: Reader, v: unknown, p: string): KeyRef | undefined {
  const o = r.obj(v, p);
  return o && { name: r.name(o.name, `${p}.name`), key: r.str(o.key, `${p}.key`, true), optional: r.bool(o.optional, `${p}.optional`) };
}

function readContainer(r: Reader, v: unknown, p: string, volumes: Record<string, VolumeSource>): Container {
  const o = r.obj(v, p) ?? r.fail(p, 'must be a mapping');
  const name = r.name(o.name, `${p}.name`, LABEL);
  const image = r.str(o.image, `${p}.image`, true).trim();
  if (!image || /\s/.test(image)) r.fail(`${p}.image`, `"${image}" is not an image reference`);
  const env = r.arr(o.env, `${p}.env`).map((x, i): EnvVar => {
    const at = `${p}.env[${i}]`;
    const e = r.obj(x, at) ?? {};
    const from = r.obj(e.valueFrom, `${at}.valueFrom`);
    const field = r.obj(from?.fieldRef, `${at}.valueFrom.fieldRef`);
    const out: EnvVar = { name: r.str(e.name, `${at}.name`, true), value: r.scalar(e.value, `${at}.value`) };
    if (from) {
      out.configMapKeyRef = keyRef(r, from.configMapKeyRef, `${at}.valueFrom.configMapKeyRef`);
      out.secretKeyRef = keyRef(r, from.secretKeyRef, `${at}.valueFrom.secretKeyRef`);
      out.fieldPath = field ? r.str(field.fieldPath, `${at}.valueFrom.fieldRef.fieldPath`, true) : undefined;
      if (out.fieldPath && !FIELDS.test(out.fieldPath)) r.fail(`${at}.valueFrom.fieldRef.fieldPath`, `"${out.fieldPath}" is not supported (metadata.name, metadata.namespace, metadata.labels['…'], spec.nodeName, status.podIP are)`);
      if (!out.configMapKeyRef && !out.secretKeyRef && !out.fieldPath) r.fail(`${at}.valueFrom`, 'needs configMapKeyRef, secretKeyRef or fieldRef (resourceFieldRef is not supported)');
    }
    return out;
  });
  const envFrom = r.arr(o.envFrom, `${p}.envFrom`).map((x, i): EnvFrom => {
    const at = `${p}.envFrom[${i}]`;
    const e = r.obj(x, at) ?? {};
    const cm = r.obj(e.configMapRef, `${at}.configMapRef`);
    const sec = r.obj(e.secretRef, `${at}.secretRef`);
    const ref = cm ?? sec ?? r.fail(at, 'needs configMapRef or secretRef');
    const kind = cm ? 'configMap' : 'secret';
    return { prefix: r.str(e.prefix, `${at}.prefix`) ?? '', kind, name: r.name(ref.name, `${at}.${kind}Ref.name`), optional: r.bool(ref.optional, `${at}.${kind}Ref.optional`) };
  });
  const ports = r.arr(o.ports, `${p}.ports`).map((x, i): ContainerPort => {
    const at = `${p}.ports[${i}]`;
    const e = r.obj(x, at) ?? {};
    return {
      name: r.str(e.name, `${at}.name`),
      containerPort: r.int(e.containerPort, `${at}.containerPort`, 1, 65535) ?? r.fail(`${at}.containerPort`, 'is required'),
      hostPort: r.int(e.hostPort, `${at}.hostPort`, 1, 65535),
      hostIP: r.str(e.hostIP, `${at}.hostIP`),
      protocol: protocol(r, e.protocol, `${at}.protocol`),
    };
  });
  const volumeMounts = r.arr(o.volumeMounts, `${p}.volumeMounts`).map((x, i): VolumeMount => {
    const at = `${p}.volumeMounts[${i}]`;
    const e = r.obj(x, at) ?? {};
    const vname = r.str(e.name, `${at}.name`, true);
    if (!volumes[vname]) r.fail(`${at}.name`, `no volume named "${vname}" in the pod's volumes`);
    const mountPath = r.str(e.mountPath, `${at}.mountPath`, true);
    if (!mountPath.startsWith('/')) r.fail(`${at}.mountPath`, 'must be an absolute path');
    const subPath = r.str(e.subPath, `${at}.subPath`) || undefined;
    if (subPath && (subPath.startsWith('/') || subPath.split('/').includes('..'))) r.fail(`${at}.subPath`, 'must be a relative path without ".."');
    return { name: vname, mountPath, readOnly: r.bool(e.readOnly, `${at}.readOnly`), subPath };
  });
  const sc = r.obj(o.securityContext, `${p}.securityContext`) ?? {};
  const caps = r.obj(sc.capabilities, `${p}.securityContext.capabilities`) ?? {};
  return {
    name,
    image,
    // Podman's default too: pull what is missing, whatever the tag (Kubernetes would pull :latest always).
    imagePullPolicy: r.oneOf(o.imagePullPolicy, `${p}.imagePullPolicy`, ['Always', 'IfNotPresent', 'Never'] as const, 'IfNotPresent'),
    command: r.strs(o.command, `${p}.command`),
    args: r.strs(o.args, `${p}.args`),
    workingDir: r.str(o.workingDir, `${p}.workingDir`),
    env,
    envFrom,
    ports,
    volumeMounts,
    resources: readResources(r, r.obj(o.resources, `${p}.resources`) ?? {}, `${p}.resources`),
    securityContext: {
      runAsUser: r.int(sc.runAsUser, `${p}.securityContext.runAsUser`),
      runAsGroup: r.int(sc.runAsGroup, `${p}.securityContext.runAsGroup`),
      privileged: sc.privileged === undefined ? undefined : r.bool(sc.privileged, `${p}.securityContext.privileged`),
      readOnlyRootFilesystem: sc.readOnlyRootFilesystem === undefined ? undefined : r.bool(sc.readOnlyRootFilesystem, `${p}.securityContext.readOnlyRootFilesystem`),
      capAdd: r.strs(caps.add, `${p}.securityContext.capabilities.add`) ?? [],
      capDrop: r.strs(caps.drop, `${p}.securityContext.capabilities.drop`) ?? [],
    },
    tty: r.bool(o.tty, `${p}.tty`),
    stdin: r.bool(o.stdin, `${p}.stdin`),
    livenessProbe: readProbe(r, o.livenessProbe, `${p}.livenessProbe`),
  };
}

function readResources(r: Reader, res: Record<string, unknown>, p: string): Resources {
  const q = (key: 'limits' | 'requests', k: 'memory' | 'cpu') => {
    const x = (r.obj(res[key], `${p}.${key}`) ?? {})[k];
    if (x === undefined) return undefined;
    const v = typeof x === 'string' || typeof x === 'number' ? (k === 'memory' ? memoryBytes(x) : nanoCpus(x)) : undefined;
    return v ?? r.fail(`${p}.${key}.${k}`, `"${String(x)}" is not a quantity (e.g. ${k === 'memory' ? '128Mi, 1Gi' : '500m, 2'})`);
  };
  const cpuRequest = q('requests', 'cpu');
  return {
    memory: q('limits', 'memory'),
    nanoCpus: q('limits', 'cpu'),
    memoryReservation: q('requests', 'memory'),
    // As the kubelet: shares = millicores * 1024 / 1000, at least 2.
    cpuShares: cpuRequest === undefined ? undefined : Math.max(2, Math.round((cpuRequest / 1e6) * 1.024)),
  };
}

function readProbe(r: Reader, v: unknown, p: string): Probe | undefined {
  const o = r.obj(v, p);
  if (!o) return undefined;
  const exec = r.obj(o.exec, `${p}.exec`);
  const http = r.obj(o.httpGet, `${p}.httpGet`);
  const secs = (k: string, min: number) => r.int(o[k], `${p}.${k}`, min);
  return {
    exec: exec ? (r.strs(exec.command, `${p}.exec.command`) ?? r.fail(`${p}.exec.command`, 'is required')) : undefined,
    httpGet: http
      ? {
          path: r.str(http.path, `${p}.httpGet.path`) ?? '/',
          port: typeof http.port === 'string' ? http.port : (r.int(http.port, `${p}.httpGet.port`, 1, 65535) ?? r.fail(`${p}.httpGet.port`, 'is required')),
          scheme: r.oneOf(http.scheme, `${p}.httpGet.scheme`, ['HTTP', 'HTTPS'] as const, 'HTTP'),
        }
      : undefined,
    initialDelaySeconds: secs('initialDelaySeconds', 0),
    periodSeconds: secs('periodSeconds', 1),
    timeoutSeconds: secs('timeoutSeconds', 1),
    failureThreshold: secs('failureThreshold', 1),
  };
}

/** ConfigMaps and Secrets the pods use must be in the stream, unless marked optional. */
function checkReferences(m: Manifest): void {
  for (const pod of m.pods) {
    const need = (kind: 'configMap' | 'secret', name: string, optional: boolean, key?: string) => {
      if (optional) return;
      const data = (kind === 'configMap' ? m.configMaps : m.secrets).get(name);
      const what = kind === 'configMap' ? 'ConfigMap' : 'Secret';
      if (!data) throw new KubeError(`pod ${pod.name}: ${what} "${name}" is not defined in the YAML`);
      if (key !== undefined && !data.has(key)) throw new KubeError(`pod ${pod.name}: ${what} "${name}" has no key "${key}"`);
    };
    for (const c of [...pod.spec.initContainers, ...pod.spec.containers]) {
      for (const e of c.env) {
        if (e.configMapKeyRef) need('configMap', e.configMapKeyRef.name, e.configMapKeyRef.optional, e.configMapKeyRef.key);
        if (e.secretKeyRef) need('secret', e.secretKeyRef.name, e.secretKeyRef.optional, e.secretKeyRef.key);
      }
      for (const e of c.envFrom) need(e.kind, e.name, e.optional);
    }
    for (const v of Object.values(pod.spec.volumes)) {
      if (v.type === 'configMap' || v.type === 'secret') {
        need(v.type, v.name, v.optional);
        for (const it of v.items ?? []) need(v.type, v.name, v.optional, it.key);
      }
    }
  }
}
