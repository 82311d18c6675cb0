/** A compose application after loading: interpolated, defaults applied, one shape per field. */

export type DependencyCondition = 'service_started' | 'service_healthy' | 'service_completed_successfully';

export interface Dependency {
  condition: DependencyCondition;
  /** false: a dependency that is missing or fails only warns. */
  required: boolean;
}

export interface PortSpec {
  target: number;
  published?: string;
  hostIp?: string;
  protocol: 'tcp' | 'udp';
}

export interface MountSpec {
  type: 'volume' | 'bind' | 'tmpfs';
  /** A top-level volume's key, a host path (bind) or undefined (anonymous volume, tmpfs). */
  source?: string;
  target: string;
  readOnly: boolean;
}

export interface HealthcheckSpec {
  /** Docker's form: ['NONE'], ['CMD', ...] or ['CMD-SHELL', cmd]. */
  test?: string[];
  /** Nanoseconds, as the Engine API takes them. */
  interval?: number;
  timeout?: number;
  startPeriod?: number;
  startInterval?: number;
  retries?: number;
}

export interface BuildSpec {
  /** Absolute path of the build context. */
  context: string;
  /** Relative to the context, as `build -f` takes it. */
  dockerfile?: string;
  args: Record<string, string>;
  target?: string;
}

export interface ServiceSpec {
  name: string;
  /** The image to run; with `build`, the tag the build produces (default <project>-<service>). */
  image: string;
  build?: BuildSpec;
  command?: string[];
  entrypoint?: string[];
  environment: Record<string, string>;
  ports: PortSpec[];
  /** `expose:` ports, reachable by other services without being published. */
  expose: Array<{ target: number; protocol: 'tcp' | 'udp' }>;
  volumes: MountSpec[];
  /** Project network key → aliases on it (the service name is always one). */
  networks: Record<string, string[]>;
  /** `networks.<key>.ipv4_address`: a fixed address on that network. */
  addresses?: Record<string, string>;
  /** 'none' or 'host' instead of project networks. */
  networkMode?: string;
  dependsOn: Record<string, Dependency>;
  healthcheck?: HealthcheckSpec;
  restart?: string;
  workingDir?: string;
  user?: string;
  hostname?: string;
  containerName?: string;
  labels: Record<string, string>;
  tty: boolean;
  stdinOpen: boolean;
  init: boolean;
  privileged: boolean;
  readOnly: boolean;
  capAdd: string[];
  capDrop: string[];
  extraHosts: string[];
  stopSignal?: string;
  /** Seconds. */
  stopGracePeriod?: number;
  /** Engine settings passed through as docker compose does (pid, ipc, shm_size, sysctls, ulimits, security_opt, dns, tmpfs, group_add, domainname). */
  host: HostSettings;
  /** Secrets and configs given as values (environment:, content:): written into the container before it starts. */
  injected: InjectedFile[];
  /** Containers to run: deploy.replicas or scale (default 1), `up --scale` over both. */
  scale: number;
  /** mem_limit, cpus, pids_limit, mem_reservation, or deploy.resources (which wins, as in docker compose). */
  resources: ResourceSpec;
  /** `develop.watch`: what `compose watch` / `up --watch` does when files change (empty without). */
  watch: WatchRule[];
}

/** compose-spec develop.watch actions. */
export type WatchAction = 'sync' | 'rebuild' | 'restart' | 'sync+restart' | 'sync+exec';

export interface WatchRule {
  action: WatchAction;
  /** Absolute host path (file or directory) watched recursively. */
  path: string;
  /** Absolute container path the sync actions copy `path` to. */
  target?: string;
  /** .dockerignore patterns relative to `path`. */
  ignore: string[];
  /** When given, only paths matching one of these (relative to `path`) count. */
  include: string[];
  /** sync+exec: the command run in each container after syncing. */
  exec?: { command: string[]; user?: string; privileged: boolean; workingDir?: string; environment: Record<string, string> };
  /** Sync the whole path once when watching starts. */
  initialSync: boolean;
}

export interface HostSettings {
  /** host, or service:<name> / container:<name> (a service's is resolved to its container). */
  pid?: string;
  /** host, none, private, shareable, or service:<name> / container:<name>. */
  ipc?: string;
  shmSize?: number;
  sysctls?: Record<string, string>;
  ulimits?: Array<{ name: string; soft: number; hard: number }>;
  securityOpt?: string[];
  dns?: string[];
  dnsSearch?: string[];
  dnsOpt?: string[];
  /** Target → options ("size=64m,mode=1777"). */
  tmpfs?: Record<string, string>;
  groupAdd?: string[];
  domainname?: string;
  devices?: Array<{ source: string; target: string; permissions: string }>;
  /** `logging:` for the file drivers the engine has (json-file, local, k8s-file) and their max-size/max-file. */
  logging?: { driver: string; options: Record<string, string> };
}

export interface InjectedFile {
  /** Absolute path in the container. */
  target: string;
  content: string;
  mode: number;
  uid: number;
  gid: number;
}

export interface ResourceSpec {
  /** Bytes. */
  memory?: number;
  memoryReservation?: number;
  /** CPUs × 1e9, the Engine API's NanoCpus. */
  nanoCpus?: number;
  pidsLimit?: number;
}

export interface NetworkSpec {
  /** The engine's name for it: <project>_<key> unless `name:` or external. */
  name: string;
  external: boolean;
  internal: boolean;
  driver?: string;
  labels: Record<string, string>;
  /** `driver_opts`: the bridge driver's options (com.docker.network.bridge.name, ...). */
  options: Record<string, string>;
  /** `ipam.config[0]`. */
  subnet?: string;
  gateway?: string;
}

export interface VolumeSpec {
  name: string;
  external: boolean;
  labels: Record<string, string>;
  /** `driver_opts`: the local driver's type/device/o (and uid/gid/mode). */
  options: Record<string, string>;
}

export interface ComposeProject {
  name: string;
  /** The directory relative paths (binds, env files) are resolved against. */
  workingDir: string;
  /** The compose files loaded, absolute. */
  configFiles: string[];
  services: Record<string, ServiceSpec>;
  /** Services of the file left out because none of their profiles is active (not orphans). */
  disabled: string[];
  networks: Record<string, NetworkSpec>;
  volumes: Record<string, VolumeSpec>;
  /** Things the loader accepted but Berth does not act on, for the user to see. */
  warnings: string[];
}
