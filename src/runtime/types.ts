/** Containers as Berth stores them, in Docker's own field names so the API passes them through. */
import type { HealthConfig } from '../image/types';
import type { HealthState } from './health';

/** Docker's container Config (the portable part). */
export interface ContainerConfig {
  Hostname?: string;
  Domainname?: string;
  /** The primary endpoint's MAC (API < 1.44; newer clients put it in the endpoint settings). */
  MacAddress?: string;
  User?: string;
  AttachStdin?: boolean;
  AttachStdout?: boolean;
  AttachStderr?: boolean;
  ExposedPorts?: Record<string, Record<string, never>>;
  Tty?: boolean;
  OpenStdin?: boolean;
  StdinOnce?: boolean;
  Env?: string[];
  Cmd?: string[] | null;
  Healthcheck?: HealthConfig;
  Image: string;
  Volumes?: Record<string, Record<string, never>> | null;
  WorkingDir?: string;
  Entrypoint?: string[] | null;
  Labels?: Record<string, string>;
  StopSignal?: string;
  StopTimeout?: number;
  /** The image's SHELL: how CMD-SHELL healthchecks run. */
  Shell?: string[];
}

export interface RestartPolicy {
  Name: '' | 'no' | 'always' | 'unless-stopped' | 'on-failure';
  MaximumRetryCount?: number;
}

/** `--mount` long syntax, as the Engine API's HostConfig.Mounts. */
export interface MountSpec {
  Type: 'bind' | 'volume' | 'tmpfs';
  Source?: string;
  Target: string;
  ReadOnly?: boolean;
  BindOptions?: { Propagation?: string };
  VolumeOptions?: { NoCopy?: boolean; Labels?: Record<string, string> };
  TmpfsOptions?: { SizeBytes?: number; Mode?: number };
}

/** Docker's HostConfig (the host-specific part), as far as Berth honours it. */
export interface HostConfig {
  Binds?: string[] | null;
  Mounts?: MountSpec[] | null;
  VolumesFrom?: string[] | null;
  NetworkMode?: string;
  RestartPolicy?: RestartPolicy;
  AutoRemove?: boolean;
  CapAdd?: string[] | null;
  CapDrop?: string[] | null;
  GroupAdd?: string[] | null;
  Privileged?: boolean;
  /** `--device host[:container[:perms]]`. */
  Devices?: Array<{ PathOnHost: string; PathInContainer?: string; CgroupPermissions?: string }> | null;
  ReadonlyRootfs?: boolean;
  SecurityOpt?: string[] | null;
  Memory?: number;
  MemorySwap?: number;
  MemoryReservation?: number;
  NanoCpus?: number;
  CpuShares?: number;
  CpuPeriod?: number;
  CpuQuota?: number;
  CpusetCpus?: string;
  PidsLimit?: number | null;
  OomKillDisable?: boolean;
  /** -1000..1000 for the container's processes (`--oom-score-adj`). */
  OomScoreAdj?: number;
  Init?: boolean | null;
  ShmSize?: number;
  Sysctls?: Record<string, string>;
  Tmpfs?: Record<string, string>;
  LogConfig?: { Type: string; Config?: Record<string, string> };
  IpcMode?: string;
  PidMode?: string;
  UTSMode?: string;
  Ulimits?: Array<{ Name: string; Soft: number; Hard: number }> | null;
  ExtraHosts?: string[] | null;
  /** Legacy `--link name[:alias]`: the alias resolves to that container in /etc/hosts. */
  Links?: string[] | null;
  PortBindings?: Record<string, Array<{ HostIp?: string; HostPort?: string }> | null>;
  PublishAllPorts?: boolean;
  Dns?: string[] | null;
  DnsSearch?: string[] | null;
  DnsOptions?: string[] | null;
}

/** Docker's NetworkingConfig of container create. */
export interface NetworkingConfig {
  EndpointsConfig?: Record<string, { Aliases?: string[] | null; IPAMConfig?: { IPv4Address?: string } | null; MacAddress?: string } | null>;
}

export type ContainerStatus = 'created' | 'running' | 'paused' | 'restarting' | 'removing' | 'exited' | 'dead';

export interface ContainerState {
  Status: ContainerStatus;
  Running: boolean;
  Paused: boolean;
  Restarting: boolean;
  OOMKilled: boolean;
  Dead: boolean;
  Pid: number;
  ExitCode: number;
  Error: string;
  StartedAt: string;
  FinishedAt: string;
  /** Present while a container with a healthcheck runs (and after, with its last result). */
  Health?: HealthState;
}

export interface ContainerRecord {
  Id: string;
  Name: string;
  Created: string;
  /** Image ID (config digest). */
  Image: string;
  Path: string;
  Args: string[];
  Config: ContainerConfig;
  HostConfig: HostConfig;
  RestartCount: number;
  LogPath: string;
  /**
   * A stopped or created container was disconnected from its NetworkMode network (Docker keeps
   * NetworkMode as it is then): it starts without it until it is connected again.
   */
  PrimaryNetworkDetached?: boolean;
  /** Set by stop/kill/rm -f: restart policies leave the container alone (see containers.ts). */
  StoppedByUser?: boolean;
  NetworkingConfig?: NetworkingConfig;
  /** Mounts resolved at create time (volumes created, binds checked). */
  MountPoints?: import('./mounts').MountPoint[];
}

export const ZERO_TIME = '0001-01-01T00:00:00Z';

export function initialState(): ContainerState {
  return {
    Status: 'created',
    Running: false,
    Paused: false,
    Restarting: false,
    OOMKilled: false,
    Dead: false,
    Pid: 0,
    ExitCode: 0,
    Error: '',
    StartedAt: ZERO_TIME,
    FinishedAt: ZERO_TIME,
  };
}

export interface ExecConfig {
  AttachStdin?: boolean;
  AttachStdout?: boolean;
  AttachStderr?: boolean;
  Tty?: boolean;
  Env?: string[];
  Cmd: string[];
  WorkingDir?: string;
  User?: string;
  Privileged?: boolean;
  DetachKeys?: string;
}

export interface ExecRecord {
  ID: string;
  ContainerID: string;
  Config: ExecConfig;
  Running: boolean;
  ExitCode: number | null;
  Pid: number;
  dir: string;
}

/**
 * Docker's ContainerUpdate body: resource limits and the restart policy (zero
 * or absent = unchanged). Berth also takes PortBindings (the whole new map),
 * applied to a running container at once (moby#21282).
 */
export type ContainerUpdate = Pick<HostConfig, 'Memory' | 'MemorySwap' | 'MemoryReservation' | 'NanoCpus' | 'CpuShares' | 'CpuPeriod' | 'CpuQuota' | 'CpusetCpus' | 'PidsLimit' | 'RestartPolicy' | 'PortBindings'>;
