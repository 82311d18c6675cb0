/**
 * A compose application as Kubernetes objects, for when one machine is not
 * enough: each service becomes a Deployment (one replica), and a Service
 * named after it when it publishes ports, so other pods reach it by the same
 * name as on the compose network; named volumes become
 * PersistentVolumeClaims; healthchecks become liveness and readiness probes.
 * What has no Kubernetes equivalent (networks, depends_on, restart policies
 * other than always) is reported as a warning instead of guessed at.
 */
import type { ComposeProject, HealthcheckSpec, ServiceSpec } from './model';

type K8sObject = Record<string, unknown>;

/** Default size of a claim made for a named volume (kompose's default too). */
const CLAIM_SIZE = '100Mi';

/** A DNS-1123 label: lowercase alphanumerics and '-', at most 63 characters. */
export function kubeName(name: string): string {
  const n = name
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 63)
    .replace(/-+$/, '');
  return n || 'x';
}

export function toKubernetes(p: ComposeProject): { objects: K8sObject[]; warnings: string[] } {
  const warnings: string[] = [];
  const objects: K8sObject[] = [];
  const usedClaims = new Set<string>();
  for (const s of Object.values(p.services)) {
    objects.push(deployment(p, s, warnings, usedClaims));
    if (s.ports.length || s.expose.length) objects.push(service(p, s));
    else if (Object.values(p.services).some((o) => o.dependsOn[s.name])) warnings.push(`service ${s.name} declares no ports or expose: other pods cannot reach it by name (a Service needs a port)`);
    if (s.build) warnings.push(`service ${s.name}: image ${s.image} is built locally; push it to a registry the cluster can pull from`);
    if (s.injected.length) warnings.push(`service ${s.name}: secrets and configs given as values (${s.injected.map((f) => f.target).join(', ')}) are not translated; create Kubernetes Secrets or ConfigMaps for them`);
    if (Object.keys(s.dependsOn).length) warnings.push(`service ${s.name}: depends_on has no Kubernetes equivalent; pods start in any order`);
  }
  for (const key of usedClaims) {
    objects.push({
      apiVersion: 'v1',
      kind: 'PersistentVolumeClaim',
      metadata: { name: kubeName(key), labels: projectLabels(p) },
      spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: CLAIM_SIZE } } },
    });
  }
  const custom = Object.entries(p.networks).filter(([k]) => k !== 'default');
  if (custom.length) warnings.push(`networks (${custom.map(([k]) => k).join(', ')}) are not translated: every pod shares the cluster network`);
  return { objects, warnings };
}

function projectLabels(p: ComposeProject): Record<string, string> {
  return { 'app.kubernetes.io/part-of': kubeName(p.name), 'app.kubernetes.io/managed-by': 'berth' };
}

function selector(p: ComposeProject, s: ServiceSpec): Record<string, string> {
  return { 'app.kubernetes.io/name': kubeName(s.name), 'app.kubernetes.io/instance': kubeName(p.name) };
}

function deployment(p: ComposeProject, s: ServiceSpec, warnings: string[], usedClaims: Set<string>): K8sObject {
  const name = kubeName(s.name);
  const volumes: K8sObject[] = [];
  const mounts: K8sObject[] = [];
  s.volumes.forEach((m, i) => {
    const vname = `${name}-vol-${i}`.slice(0, 63);
    if (m.type === 'volume' && m.source) {
      usedClaims.add(m.source);
      volumes.push({ name: vname, persistentVolumeClaim: { claimName: kubeName(m.source) } });
    } else if (m.type === 'bind') {
      warnings.push(`service ${s.name}: bind mount ${m.source} becomes a hostPath volume, which only works where that path exists on the node`);
      volumes.push({ name: vname, hostPath: { path: m.source } });
    } else volumes.push({ name: vname, emptyDir: m.type === 'tmpfs' ? { medium: 'Memory' } : {} });
    mounts.push({ name: vname, mountPath: m.target, ...(m.readOnly ? { readOnly: true } : {}) });
  });
  if (s.restart && s.restart !== 'always' && s.restart !== 'unless-stopped') warnings.push(`service ${s.name}: restart "${s.restart}" becomes Always (a Deployment's only policy)`);
  if (s.networkMode?.includes(':')) warnings.push(`service ${s.name}: network_mode ${s.networkMode} is not translated; containers sharing a network belong in one pod`);
  if (s.networkMode === 'host') warnings.push(`service ${s.name}: network_mode host becomes hostNetwork: true`);
  const uid = s.user && /^\d+(:\d+)?$/.test(s.user) ? s.user.split(':').map(Number) : undefined;
  if (s.user && !uid) warnings.push(`service ${s.name}: user "${s.user}" is not numeric; Kubernetes takes a UID (runAsUser)`);
  const caps = s.capAdd.length || s.capDrop.length ? { capabilities: { ...(s.capAdd.length ? { add: s.capAdd } : {}), ...(s.capDrop.length ? { drop: s.capDrop } : {}) } } : {};
  const security = {
    ...(s.privileged ? { privileged: true } : {}),
    ...(s.readOnly ? { readOnlyRootFilesystem: true } : {}),
    ...(uid ? { runAsUser: uid[0], ...(uid[1] !== undefined ? { runAsGroup: uid[1] } : {}) } : {}),
    ...caps,
  };
  const probe = s.healthcheck ? probeOf(s.healthcheck) : undefined;
  const container: K8sObject = {
    name,
    image: s.image,
    ...(s.entrypoint ? { command: s.entrypoint } : {}),
    ...(s.command ? { args: s.command } : {}),
    ...(Object.keys(s.environment).length ? { env: Object.entries(s.environment).map(([k, v]) => ({ name: k, value: v })) } : {}),
    ...(s.workingDir ? { workingDir: s.workingDir } : {}),
    ...(s.ports.length || s.expose.length ? { ports: uniquePorts([...s.ports, ...s.expose]).map((x) => ({ containerPort: x.target, protocol: x.protocol.toUpperCase() })) } : {}),
    ...(mounts.length ? { volumeMounts: mounts } : {}),
    ...(Object.keys(security).length ? { securityContext: security } : {}),
    ...(probe ? { livenessProbe: probe, readinessProbe: probe } : {}),
    ...(s.tty ? { tty: true } : {}),
    ...(s.stdinOpen ? { stdin: true } : {}),
  };
  const hostAliases = s.extraHosts.map((h) => {
    // "host:ip" splits at the first colon: an IPv6 address has colons of its own.
    const i = h.indexOf(':');
    return { ip: h.slice(i + 1), hostnames: [h.slice(0, i)] };
  });
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, labels: { ...projectLabels(p), ...selector(p, s) } },
    spec: {
      replicas: s.scale,
      selector: { matchLabels: selector(p, s) },
      template: {
        metadata: { labels: { ...projectLabels(p), ...selector(p, s) } },
        spec: {
          ...(s.hostname ? { hostname: kubeName(s.hostname) } : {}),
          ...(s.networkMode === 'host' ? { hostNetwork: true } : {}),
          ...(hostAliases.length ? { hostAliases } : {}),
          ...(s.stopGracePeriod !== undefined ? { terminationGracePeriodSeconds: s.stopGracePeriod } : {}),
          containers: [container],
          ...(volumes.length ? { volumes } : {}),
        },
      },
    },
  };
}

function uniquePorts<T extends { target: number; protocol: string }>(ports: T[]): T[] {
  const seen = new Set<string>();
  return ports.filter((x) => !seen.has(`${x.target}/${x.protocol}`) && !!seen.add(`${x.target}/${x.protocol}`));
}

function service(p: ComposeProject, s: ServiceSpec): K8sObject {
  const seen = new Set<string>();
  const ports = [];
  for (const x of [...s.ports, ...s.expose.map((e) => ({ ...e, published: undefined }))]) {
    const port = x.published && /^\d+$/.test(x.published) ? Number(x.published) : x.target;
    const key = `${port}/${x.protocol}`;
    if (seen.has(key)) continue;
    seen.add(key);
    ports.push({ name: `${port}-${x.protocol}`, port, targetPort: x.target, protocol: x.protocol.toUpperCase() });
  }
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: kubeName(s.name), labels: { ...projectLabels(p), ...selector(p, s) } },
    spec: { selector: selector(p, s), ports },
  };
}

/** A healthcheck as an exec probe; Docker's nanoseconds become whole seconds (at least 1). */
function probeOf(h: HealthcheckSpec): K8sObject | undefined {
  const test = h.test;
  if (!test || test[0] === 'NONE') return undefined;
  const command = test[0] === 'CMD-SHELL' ? ['/bin/sh', '-c', test[1] ?? ''] : test.slice(1);
  const secs = (ns: number | undefined) => (ns === undefined ? undefined : Math.max(1, Math.round(ns / 1e9)));
  return {
    exec: { command },
    ...(h.interval !== undefined ? { periodSeconds: secs(h.interval) } : {}),
    ...(h.timeout !== undefined ? { timeoutSeconds: secs(h.timeout) } : {}),
    ...(h.retries !== undefined && h.retries > 0 ? { failureThreshold: h.retries } : {}),
    ...(h.startPeriod !== undefined ? { initialDelaySeconds: secs(h.startPeriod) } : {}),
  };
}
