/**
 * Berth's network module: Docker-style bridge/host/none and user networks
 * over the CNI plugins, per-network embedded DNS, published ports.
 *
 * Wiring (see the report in the module's first commit):
 *   - berthd's entry must start with
 *       if (process.argv[2] === DNS_RESOLVER_ARG) { void runDnsResolver(process.argv[3]!); }
 *     (and not run the daemon then): the resolver processes are started as
 *     `<node> <berthd entry> --berth-dns-resolver <dir>`.
 *   - NetworkManager.init(liveIds) at daemon start; attach() before runc
 *     create; detach() after the container is gone (stop/exit/rm/failed start).
 */
export { NetworkManager, PREDEFINED, type NetworkManagerOptions } from './manager';
export type { NetworkConfig, NetworkDriver, EndpointRequest, PortMapping, EndpointInfo, AttachResult, NamespaceSpec } from './types';
export { DNS_RESOLVER_ARG, runDnsResolver } from './dns/server';
export { renderHosts, renderResolvConf, readResolvConf, containerResolvers, LOCALHOST_HOSTS, type ResolvConf } from './resolvconf';
export { CniError } from './cni';
