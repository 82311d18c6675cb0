/**
 * `--device` and compose `devices:` strings, `host[:container][:permissions]`,
 * read as the docker CLI's parseDevice does: a second field that looks like
 * cgroup permissions (r, w, m) is the permissions, else the container path.
 */
export interface DeviceSpec {
  source: string;
  target: string;
  permissions: string;
}

const PERMS = /^[rwm]{1,3}$/;

/** The parts of a device string, or undefined when it has more than three fields or no host path. */
export function parseDeviceSpec(spec: string): DeviceSpec | undefined {
  const parts = spec.split(':');
  const source = parts[0] ?? '';
  if (!source || parts.length > 3) return undefined;
  if (parts.length === 3) return { source, target: parts[1] || source, permissions: parts[2]! };
  if (parts.length === 2) return PERMS.test(parts[1]!) ? { source, target: source, permissions: parts[1]! } : { source, target: parts[1] || source, permissions: 'rwm' };
  return { source, target: source, permissions: 'rwm' };
}
