/** The network module's public data types (see index.ts for the API). */
import type { CniResult, NetConfList } from './cni';

export type NetworkDriver = 'bridge' | 'host' | 'null';

/** A network as stored under <root>/networks/configs/<id>.json (host and none are built in, never stored). */
export interface NetworkConfig {
  Name: string;
  /** 64 hex characters, like Docker's. */
  Id: string;
  Driver: NetworkDriver;
  /** IPv4 CIDR; '' for host/none. */
  Subnet: string;
  Gateway: string;
  /** No outbound route, no NAT, no forwarding to other interfaces, no upstream DNS. */
  Internal: boolean;
  Labels: Record<string, string>;
  /** RFC 3339 timestamp. */
  Created: string;
  /** The Linux bridge ('' for host/none). */
  BridgeName: string;
  /** Whether the network has the embedded resolver (user-defined bridge networks; not the default bridge). */
  Dns: boolean;
  /** Docker-style driver options as given at create (com.docker.network.bridge.name, ...). */
  Options?: Record<string, string>;
  /** Whether the subnet was chosen by the user (Docker only allows --ip on those). */
  UserSubnet?: boolean;
}

export interface EndpointRequest {
  /** Network name, full ID or unique ID prefix. */
  network: string;
  aliases?: string[];
  /** A static IPv4 address in the network's subnet (--ip). */
  ip?: string;
  /** The interface's MAC address (--mac-address), through the bridge plugin's `mac` capability. */
  mac?: string;
}

export interface PortMapping {
  /** '' or undefined = all addresses. */
  hostIp?: string;
  /** 0 = pick a free port. */
  hostPort: number;
  /** With hostPort: the last port of a range (`-p 8000-8010:80`), of which the first free one is taken. */
  hostPortEnd?: number;
  containerPort: number;
  protocol: 'tcp' | 'udp';
}

export interface EndpointInfo {
  NetworkID: string;
  EndpointID: string;
  IPAddress: string;
  IPPrefixLen: number;
  Gateway: string;
  MacAddress: string;
  Aliases: string[];
}

/**
 * How runc should set up the container's network namespace: join the pinned
 * one at nsPath, share the host's, or get a fresh one with only loopback
 * (runc brings lo up itself). Matches RuntimeSpecInput['network'] in
 * src/runtime/spec.ts.
 */
export type NamespaceSpec = { mode: 'path'; nsPath: string } | { mode: 'host' } | { mode: 'none' };

export interface AttachResult {
  /** The pinned netns to put in the OCI spec's linux.namespaces network path; '' for host/none. */
  nsPath: string;
  namespace: NamespaceSpec;
  /** Keyed by network name, as Docker's NetworkSettings.Networks. */
  networks: Record<string, EndpointInfo>;
  /** Published ports with host ports resolved (hostPort 0 replaced). */
  ports: Array<PortMapping & { hostPort: number }>;
  /** For resolv.conf: the network's resolver (gateway IP) on user networks, else the host's resolvers. */
  dnsServers: string[];
  dnsSearch: string[];
  dnsOptions: string[];
  /** For /etc/hosts, after localhost lines: the container's own addresses with its hostname. */
  hosts: Array<{ ip: string; names: string[] }>;
}

/** One network of one container, as persisted for DEL after a crash. */
export interface AttachmentState {
  networkId: string;
  networkName: string;
  endpointId: string;
  ifName: string;
  aliases: string[];
  /** DNS names registered in the network's resolver. */
  dnsNames: string[];
  /** The exact conflist and capability arguments used for ADD, so DEL gets the same. */
  list: NetConfList;
  capabilityArgs: Record<string, unknown>;
  /** Set once ADD succeeded. */
  result?: CniResult;
}

/** <root>/networks/endpoints/<containerId>.json */
export interface ContainerNetState {
  containerId: string;
  name: string;
  hostname: string;
  nsPath: string;
  created: string;
  ports: Array<PortMapping & { hostPort: number }>;
  attachments: AttachmentState[];
}
