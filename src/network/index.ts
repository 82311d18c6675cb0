/**
 * Berth's network module: Docker-style bridge/host/none and user networks
 * over the Debian CNI plugins (bridge + host-local, portmap, firewall), a
 * per-network embedded DNS, published ports.
 *
 * How the engine uses it:
 *   - The daemon's entry point must run the resolver when asked to, before
 *     anything else (resolvers are started as `<node> <entry> DNS_RESOLVER_ARG <dir>`):
 *       if (process.argv[2] === DNS_RESOLVER_ARG) runDnsResolver(process.argv[3]!)
 *   - Start-up: `await nm.init(runningContainerIds)` — loads networks, creates
 *     bridge/host/none, restarts resolvers, reaps what dead containers left.
 *   - Container start, before `runc create`: `nm.attach(...)`; put
 *     `result.namespace` in the runtime spec, render /etc/hosts and
 *     resolv.conf from `result.hosts` / `result.dnsServers` (renderHosts,
 *     renderResolvConf); on a failed start, `nm.detach(id)`.
 *   - Container exit (all processes gone): `nm.detach(id, { containerGone: true })`;
 *     container rm: `nm.detach(id)` (idempotent).
 *   - Name resolution on user networks: the resolver listens on the gateway
 *     on a high port, gateway:53 is DNATed to it, and containers get
 *     `nameserver <gateway>` (Docker uses 127.0.0.11 inside the container;
 *     the gateway needs no per-container rules and survives berthd restarts).
 */
export { NetworkManager, PREDEFINED, type NetworkManagerOptions } from './manager';
export type { NetworkConfig, NetworkDriver, EndpointRequest, PortMapping, EndpointInfo, AttachResult, NamespaceSpec } from './types';
export { DNS_RESOLVER_ARG, runDnsResolver } from './dns/server';
export { renderHosts, renderResolvConf, readResolvConf, containerResolvers, LOCALHOST_HOSTS, type ResolvConf } from './resolvconf';
export { CniError } from './cni';
