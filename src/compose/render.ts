/**
 * A loaded project back in compose-file form (`compose config`): variables
 * resolved, short syntax expanded to long, defaults filled in, so what Berth
 * will run can be read, diffed, or fed to another tool.
 */
import { goDuration } from '../build/config';
import type { ComposeProject, ServiceSpec } from './model';

type Obj = Record<string, unknown>;

/** Drops undefined values, empty lists and empty maps, as docker compose config does. */
function compact(o: Obj): Obj {
  return Object.fromEntries(
    Object.entries(o).filter(([, v]) => v !== undefined && v !== false && !(Array.isArray(v) && v.length === 0) && !(v && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length === 0)),
  );
}

function service(s: ServiceSpec): Obj {
  const h = s.healthcheck;
  const d = (ns: number | undefined) => (ns === undefined ? undefined : goDuration(ns));
  return compact({
    build: s.build ? compact({ context: s.build.context, dockerfile: s.build.dockerfile, args: s.build.args, target: s.build.target }) : undefined,
    image: s.image,
    entrypoint: s.entrypoint,
    command: s.command,
    environment: s.environment,
    ports: s.ports.map((x) => compact({ target: x.target, published: x.published, host_ip: x.hostIp, protocol: x.protocol })),
    expose: s.expose.map((x) => `${x.target}${x.protocol === 'udp' ? '/udp' : ''}`),
    volumes: s.volumes.map((m) => compact({ type: m.type, source: m.source, target: m.target, read_only: m.readOnly })),
    network_mode: s.networkMode,
    networks: Object.fromEntries(Object.entries(s.networks).map(([n, aliases]) => [n, aliases.length ? { aliases } : null])),
    depends_on: Object.fromEntries(Object.entries(s.dependsOn).map(([n, dep]) => [n, { condition: dep.condition, required: dep.required }])),
    healthcheck: h ? compact({ test: h.test, interval: d(h.interval), timeout: d(h.timeout), start_period: d(h.startPeriod), start_interval: d(h.startInterval), retries: h.retries }) : undefined,
    restart: s.restart,
    working_dir: s.workingDir,
    user: s.user,
    hostname: s.hostname,
    container_name: s.containerName,
    labels: s.labels,
    tty: s.tty,
    stdin_open: s.stdinOpen,
    init: s.init,
    privileged: s.privileged,
    read_only: s.readOnly,
    cap_add: s.capAdd,
    cap_drop: s.capDrop,
    extra_hosts: s.extraHosts,
    stop_signal: s.stopSignal,
    stop_grace_period: s.stopGracePeriod === undefined ? undefined : `${s.stopGracePeriod}s`,
    scale: s.scale === 1 ? undefined : s.scale,
    mem_limit: s.resources.memory,
    mem_reservation: s.resources.memoryReservation,
    cpus: s.resources.nanoCpus === undefined ? undefined : s.resources.nanoCpus / 1e9,
    pids_limit: s.resources.pidsLimit,
    pid: s.host.pid,
    ipc: s.host.ipc,
    shm_size: s.host.shmSize,
    sysctls: s.host.sysctls,
    ulimits: s.host.ulimits ? Object.fromEntries(s.host.ulimits.map((u) => [u.name, { soft: u.soft, hard: u.hard }])) : undefined,
    security_opt: s.host.securityOpt,
    dns: s.host.dns,
    dns_search: s.host.dnsSearch,
    dns_opt: s.host.dnsOpt,
    tmpfs: s.host.tmpfs ? Object.entries(s.host.tmpfs).map(([t, o]) => (o ? `${t}:${o}` : t)) : undefined,
    group_add: s.host.groupAdd,
    domainname: s.host.domainname,
    logging: s.host.logging ? { driver: s.host.logging.driver, options: s.host.logging.options } : undefined,
    develop: s.watch.length
      ? { watch: s.watch.map((w) => compact({ action: w.action, path: w.path, target: w.target, ignore: w.ignore, include: w.include, initial_sync: w.initialSync, exec: w.exec ? compact({ command: w.exec.command, user: w.exec.user, privileged: w.exec.privileged, working_dir: w.exec.workingDir, environment: w.exec.environment }) : undefined })) }
      : undefined,
  });
}

/** Literal dollars written back as $, so the output loads again to the same project. */
function escapeDollars(v: unknown): unknown {
  if (typeof v === 'string') return v.replace(/\$/g, '$$$$');
  if (Array.isArray(v)) return v.map(escapeDollars);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, escapeDollars(x)]));
  return v;
}

export function renderProject(p: ComposeProject): Obj {
  const usedNets = new Set(Object.values(p.services).flatMap((s) => Object.keys(s.networks)));
  return escapeDollars(compact({
    name: p.name,
    services: Object.fromEntries(Object.entries(p.services).map(([k, s]) => [k, service(s)])),
    networks: Object.fromEntries(Object.entries(p.networks).filter(([k]) => usedNets.has(k) || k !== 'default').map(([k, n]) => [k, compact({ name: n.name, external: n.external, internal: n.internal, driver: n.driver })])),
    volumes: Object.fromEntries(Object.entries(p.volumes).map(([k, v]) => [k, compact({ name: v.name, external: v.external })])),
  })) as Obj;
}
