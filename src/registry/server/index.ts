/**
 * `berth registry serve|gc`: the server's public surface. The CLI loads it
 * as a bundle of its own (dist/registry-server.js), so every other command
 * starts without ~70 KB of server code.
 */
export { createRegistryServer, type RegistryServerOptions } from './server';
export { openStorage, parseAddr, resolveServeSettings, type ServeFlags, type ServeSettings } from './config';
export { collectGarbage, type GcResult } from './gc';
