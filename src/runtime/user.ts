/**
 * `--user` / `--group-add` resolution against the container's own
 * /etc/passwd and /etc/group, with the semantics of moby/sys/user
 * GetExecUser + GetAdditionalGroups (what dockerd uses), reading both files
 * with kernel-enforced in-root resolution so an image's symlinks can never
 * make the daemon read host files.
 */
import * as fs from 'node:fs';
import { InternalError, InvalidArgumentError } from '../errors';
import { openat2, RESOLVE_IN_ROOT, RESOLVE_NO_MAGICLINKS, SysError } from '../sys/libc';

export interface ResolvedUser {
  uid: number;
  gid: number;
  /** Primary gid first, then /etc/group memberships, then --group-add (Docker's order). */
  additionalGids: number[];
  home: string;
}

interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

const MAX_ID = 2 ** 31 - 1;
const RANGE_MESSAGE = `uids and gids must be in range 0-${MAX_ID}`;
// Bounded so a hostile image cannot make the daemon buffer gigabytes.
const MAX_USER_FILE = 32 << 20;
const O_CLOEXEC = 0o2000000;

/**
 * Resolves a user spec ('', 'name', 'uid', 'uid:gid', 'name:group', ...)
 * inside `rootfs`. Numeric ids need no passwd entry; names must exist.
 */
export async function resolveUser(rootfs: string, user: string, groupAdd: string[] = []): Promise<ResolvedUser> {
  const { passwd, group } = readUserFiles(rootfs);
  return resolveUserFrom(user, groupAdd, passwd, group);
}

/** The pure part of resolveUser; `undefined` file contents mean "file absent". */
export function resolveUserFrom(
  spec: string,
  groupAdd: string[],
  passwdText: string | undefined,
  groupText: string | undefined,
): ResolvedUser {
  // Go's parseLine: split on ':' and use the first two fields.
  const [userArg = '', groupArg = ''] = spec.split(':');
  const uidArg = parseNumeric(userArg);
  const gidArg = parseNumeric(groupArg);

  let uid = 0;
  let gid = 0;
  let home = '/';
  let sgids: number[] = [];

  const passwd = passwdText === undefined ? [] : parsePasswd(passwdText);
  const match = passwd.find((u) => (userArg === '' ? u.uid === uid : uidArg !== undefined ? u.uid === uidArg : u.name === userArg));
  let matchedName = '';
  if (match) {
    matchedName = match.name;
    uid = match.uid;
    gid = match.gid;
    home = match.home;
  } else if (userArg !== '') {
    if (uidArg === undefined) throw new InvalidArgumentError(`unable to find user ${userArg}: no matching entries in passwd file`);
    uid = uidArg;
  }

  if (groupArg !== '' || matchedName !== '') {
    const groups = groupText === undefined ? [] : parseGroup(groupText);
    if (groupArg !== '') {
      const g = groups.find((e) => (gidArg !== undefined ? e.gid === gidArg : e.name === groupArg));
      if (g) gid = g.gid;
      else if (gidArg !== undefined) gid = gidArg;
      else throw new InvalidArgumentError(`unable to find group ${groupArg}: no matching entries in group file`);
    } else {
      // Supplementary groups only in the implicit form, as Docker.
      sgids = groups.filter((e) => e.members.includes(matchedName)).map((e) => e.gid);
    }
  }

  const extra = additionalGroups(groupAdd, groupText);
  return { uid, gid, additionalGids: [gid, ...sgids, ...extra], home };
}

/** --group-add: names must exist in /etc/group, numbers may be used as-is. */
function additionalGroups(wanted: string[], groupText: string | undefined): number[] {
  if (wanted.length === 0) return [];
  const groups = groupText === undefined ? [] : parseGroup(groupText);
  const out: number[] = [];
  for (const name of wanted) {
    const num = parseNumeric(name);
    const g = groups.find((e) => (num !== undefined ? e.gid === num : e.name === name));
    let gid: number;
    if (g) {
      if (g.gid < 0 || g.gid > MAX_ID) throw new InvalidArgumentError(RANGE_MESSAGE);
      gid = g.gid;
    } else if (num !== undefined) {
      gid = num;
    } else {
      throw new InvalidArgumentError(`unable to find group ${name}: no matching entries in group file`);
    }
    if (!out.includes(gid)) out.push(gid);
  }
  return out;
}

/** An id if `s` is numeric (Go Atoi syntax), undefined if it is a name; out-of-range numbers are errors. */
function parseNumeric(s: string): number | undefined {
  if (!/^[+-]?\d+$/.test(s)) return undefined;
  const n = BigInt(s);
  if (n < 0n || n > BigInt(MAX_ID)) throw new InvalidArgumentError(RANGE_MESSAGE);
  return Number(n);
}

// Go's `*e, _ = strconv.Atoi(...)`: junk becomes 0.
function atoi(s: string | undefined): number {
  if (s === undefined || !/^[+-]?\d+$/.test(s)) return 0;
  const n = Number(s);
  return Number.isSafeInteger(n) ? n : 0;
}

export function parsePasswd(text: string): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '') continue;
    const f = line.split(':');
    out.push({ name: f[0] ?? '', uid: atoi(f[2]), gid: atoi(f[3]), home: f[5] ?? '' });
  }
  return out;
}

export function parseGroup(text: string): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const f = line.split(':');
    out.push({ name: f[0] ?? '', gid: atoi(f[2]), members: f[3] ? f[3].split(',') : [] });
  }
  return out;
}

function readUserFiles(rootfs: string): { passwd: string | undefined; group: string | undefined } {
  let dirfd: number;
  try {
    dirfd = fs.openSync(rootfs, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  } catch (e) {
    throw new InternalError(`cannot open container rootfs ${rootfs}: ${(e as Error).message}`, { cause: e });
  }
  try {
    return { passwd: readInRoot(dirfd, 'etc/passwd'), group: readInRoot(dirfd, 'etc/group') };
  } finally {
    fs.closeSync(dirfd);
  }
}

/**
 * Reads `rel` under the root fd with RESOLVE_IN_ROOT: absolute symlinks and
 * `..` resolve against the rootfs, never the host. Like Docker, a missing or
 * unusable file counts as absent; non-regular files (FIFOs, devices) too, so
 * the read cannot block or run forever.
 */
function readInRoot(dirfd: number, rel: string): string | undefined {
  let fd: number;
  try {
    const flags = fs.constants.O_RDONLY | fs.constants.O_NONBLOCK | fs.constants.O_NOCTTY | O_CLOEXEC;
    fd = openat2(dirfd, rel, flags, 0, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
  } catch (e) {
    if (e instanceof SysError && ['ENOENT', 'ENOTDIR', 'ELOOP', 'EACCES', 'ENXIO'].includes(e.code)) return undefined;
    throw e;
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) return undefined;
    if (st.size > MAX_USER_FILE) throw new InvalidArgumentError(`/${rel} in the container is too large (${st.size} bytes)`);
    return fs.readFileSync(fd, 'utf8');
  } finally {
    fs.closeSync(fd);
  }
}
