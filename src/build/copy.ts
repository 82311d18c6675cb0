/**
 * COPY and ADD as a layer, with Docker's rules:
 * - a directory source copies its contents; a file its basename;
 * - the destination is a directory when it ends in '/', when several things are
 *   copied, or when it already is a directory in the image; otherwise a file
 *   source is written at the destination itself;
 * - copied entries get uid/gid 0 (or --chown), their own mode (or --chmod) and a
 *   fixed mtime (the build's epoch), so the layer does not depend on checkout times;
 * - ADD extracts a local tar (plain or gzip) into the destination directory.
 *
 * planCopy turns the selection into tar items. The destination is resolved in
 * the stage's rootfs first — image symlinks on the way followed in-root (as
 * Docker does), never onto the host — and the parent directories that exist
 * go into the layer with their own owner and mode, so stacking the layer
 * changes nothing but what was copied. The builder streams the items straight
 * into the content store (no overlay, no repacking); only ADD of an archive
 * goes through a sandbox (applyCopy).
 */
import { closeSync, constants, createReadStream, fstatSync, read, readlinkSync, readSync, realpathSync, statSync, type Stats } from 'node:fs';
import { posix } from 'node:path';
import { promisify } from 'node:util';
import { Readable } from 'node:stream';
import { gunzipSync, constants as zlibConstants } from 'node:zlib';
import type { ContextEntry, SelectedEntry } from './context';
import { decompress } from '../image/compression';
import { applyLayer } from '../image/snapshot/apply';
import { writeTar, type TarWriteItem } from '../image/tar/writer';
import { lstatInRoot, mkdirInRoot, openInRoot } from '../sys/inroot';
import { O_PATH, SysError } from '../sys/libc';
import { InvalidArgumentError } from '../errors';

export interface CopySource {
  /** Directory the entries' paths are relative to (context dir, or another stage's rootfs). */
  root: string;
  selected: SelectedEntry[];
  /** Indices of sources that name the root itself (`COPY . /app`): they carry no '.' entry. */
  rootSources: Set<number>;
}

export interface InlineFile {
  /** File name when the destination is a directory. */
  name: string;
  data: Buffer;
}

export interface CopyOptions {
  /** The stage's rootfs before the copy (a read-only view or a sandbox): where the destination is resolved. */
  root: string;
  source: CopySource;
  inline: InlineFile[];
  /** How many sources the instruction names (files, patterns, heredocs). */
  sourceCount: number;
  /** Absolute destination; a trailing '/' is kept. */
  dest: string;
  owner?: { uid: number; gid: number };
  chmod?: number;
  /** mtime for everything written (seconds). */
  epoch: number;
  /** ADD: extract local archives. */
  unpack: boolean;
}

export interface CopyPlan {
  /** The layer's entries, parents first; names are in-root paths with symlinks resolved. */
  items: TarWriteItem[];
  /** ADD: archives to extract into these (resolved) directories. */
  archives: Array<{ path: string; destDir: string }>;
}

const rel = (p: string): string => p.replace(/^\/+/, '');

function errCode(e: unknown): string | undefined {
  return e instanceof SysError ? e.code : (e as NodeJS.ErrnoException)?.code;
}

/** Where `path` really is in the rootfs: symlinks resolved in-root (the last one only if `followLast`); a missing tail is kept. */
function resolveInRoot(root: string, rootReal: string, path: string, followLast: boolean): { path: string; st?: Stats } {
  const clean = posix.normalize('/' + path).replace(/(.)\/$/, '$1');
  if (clean === '/') return { path: '/', st: statSync(root) };
  let fd: number;
  try {
    fd = openInRoot(root, clean, O_PATH | (followLast ? 0 : constants.O_NOFOLLOW));
  } catch (e) {
    if (errCode(e) !== 'ENOENT') throw e;
    const parent = resolveInRoot(root, rootReal, posix.dirname(clean), true);
    if (parent.st && !parent.st.isDirectory()) throw new InvalidArgumentError(`cannot copy to ${path}: ${posix.dirname(clean)} is not a directory`);
    return { path: posix.join(parent.path, posix.basename(clean)) };
  }
  try {
    const st = fstatSync(fd);
    const host = readlinkSync(`/proc/self/fd/${fd}`);
    if (host !== rootReal && !host.startsWith(rootReal + '/')) throw new InvalidArgumentError(`cannot resolve ${path} inside the image`);
    return { path: host === rootReal ? '/' : host.slice(rootReal.length), st };
  } finally {
    closeSync(fd);
  }
}

function openSource(root: string, path: string): number {
  return openInRoot(root, path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
}

const SMALL_FILE = 1 << 20;
const readAsync = promisify(read);

/** The bytes to write: exactly `size` (the header is out before the body), cut or zero-padded. */
async function* fileBody(root: string, path: string, size: number): AsyncGenerator<Buffer> {
  const fd = openSource(root, path);
  let sent = 0;
  try {
    if (!fstatSync(fd).isFile()) throw new InvalidArgumentError(`${path} is no longer a regular file`);
    if (size <= SMALL_FILE) {
      const buf = Buffer.alloc(size);
      while (sent < size) {
        const n = readSync(fd, buf, sent, size - sent, sent);
        if (n === 0) break;
        sent += n;
      }
      sent = size;
      yield buf;
      return;
    }
    while (sent < size) {
      const buf = Buffer.allocUnsafe(Math.min(SMALL_FILE, size - sent));
      const { bytesRead } = await readAsync(fd, buf, 0, buf.length, sent);
      if (bytesRead === 0) break;
      sent += bytesRead;
      yield buf.subarray(0, bytesRead);
    }
  } finally {
    closeSync(fd);
  }
  if (sent < size) yield Buffer.alloc(size - sent);
}

/** A local tar (plain or gzip-compressed) that ADD extracts instead of copying. */
export function isTarArchive(root: string, path: string): boolean {
  let fd: number;
  try {
    fd = openSource(root, path);
  } catch {
    return false;
  }
  try {
    if (!fstatSync(fd).isFile()) return false;
    const head = Buffer.alloc(64 * 1024);
    const n = readSync(fd, head, 0, head.length, 0);
    let data = head.subarray(0, n);
    if (data.length >= 2 && data[0] === 0x1f && data[1] === 0x8b) {
      try {
        data = gunzipSync(data, { finishFlush: zlibConstants.Z_SYNC_FLUSH });
      } catch {
        return false;
      }
    }
    return data.length >= 262 && data.subarray(257, 262).toString('latin1') === 'ustar';
  } finally {
    closeSync(fd);
  }
}

type Kind = 'dirRoot' | 'child' | 'fileRoot';

/**
 * What each selected entry is: the '.' entry of a directory source, something
 * inside a directory source (or inside the whole context), or a file source.
 */
function classify(selected: SelectedEntry[], rootSources: Set<number>): Kind[] {
  let dirRoot: SelectedEntry | undefined;
  return selected.map((e): Kind => {
    if (e.rel === '.') {
      dirRoot = e;
      return 'dirRoot';
    }
    if (rootSources.has(e.source)) return 'child';
    if (dirRoot && e.source === dirRoot.source && e.path.startsWith(dirRoot.path + '/') && e.path.slice(dirRoot.path.length + 1) === e.rel) return 'child';
    dirRoot = undefined;
    return 'fileRoot';
  });
}

/** Decides where every selected entry goes, resolving the destination in `o.root`. */
export function planCopy(o: CopyOptions): CopyPlan {
  const { selected, rootSources } = o.source;
  const kinds = classify(selected, rootSources);
  const roots = kinds.filter((k) => k !== 'child').length + rootSources.size + o.inline.length;
  const rootReal = realpathSync(o.root);
  let destIsDir = o.dest.endsWith('/') || o.sourceCount > 1 || roots > 1;
  let dest = resolveInRoot(o.root, rootReal, o.dest, destIsDir);
  if (!destIsDir && dest.st?.isSymbolicLink()) {
    const followed = resolveInRoot(o.root, rootReal, o.dest, true);
    if (followed.st?.isDirectory()) dest = followed;
  }
  if (dest.st?.isDirectory()) destIsDir = true;
  const uid = o.owner?.uid ?? 0;
  const gid = o.owner?.gid ?? 0;
  const items: TarWriteItem[] = [];
  const archives: CopyPlan['archives'] = [];
  const chained = new Set<string>();
  /** Entries for `dir` and its parents: existing ones as they are (so the layer keeps their owner and mode), new ones created. */
  const ensureDir = (dir: string, mode: number) => {
    let sofar = '';
    const parts = rel(dir).split('/').filter(Boolean);
    parts.forEach((part, i) => {
      sofar += '/' + part;
      if (chained.has(sofar)) return;
      chained.add(sofar);
      const st = lstatInRoot(o.root, sofar);
      if (st && !st.isDirectory()) throw new InvalidArgumentError(`cannot copy to ${dir}: ${sofar} is not a directory`);
      if (st) {
        items.push({ entry: { name: rel(sofar), type: 'directory', mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: Math.min(Math.floor(st.mtimeMs / 1000), o.epoch) } });
      } else if (i === parts.length - 1) {
        items.push({ entry: { name: rel(sofar), type: 'directory', mode: o.chmod ?? mode, uid, gid, mtime: o.epoch } });
      } else {
        items.push({ entry: { name: rel(sofar), type: 'directory', mode: 0o755, uid: 0, gid: 0, mtime: o.epoch } });
      }
    });
  };
  const push = (e: ContextEntry, name: string) => {
    if (rel(name) === '') return;
    const base = { name: rel(name), uid, gid, mtime: o.epoch };
    if (e.type === 'dir') items.push({ entry: { ...base, type: 'directory', mode: o.chmod ?? e.mode } });
    else if (e.type === 'symlink') items.push({ entry: { ...base, type: 'symlink', mode: 0o777, linkname: e.linkTarget ?? '' } });
    else items.push({ entry: { ...base, type: 'file', mode: o.chmod ?? e.mode, size: e.size }, body: fileBody(o.source.root, e.path, e.size) });
  };

  // A directory source always fills the destination as a directory; files go into it only when it is one.
  const destDir = destIsDir ? dest.path : posix.dirname(dest.path);
  selected.forEach((e, i) => {
    const kind = kinds[i];
    if (kind === 'dirRoot') return ensureDir(dest.path, e.mode);
    if (kind === 'child') {
      ensureDir(dest.path, 0o755);
      return push(e, posix.join(dest.path, e.rel));
    }
    ensureDir(destDir, 0o755);
    if (o.unpack && e.type === 'file' && isTarArchive(o.source.root, e.path)) {
      archives.push({ path: e.path, destDir: dest.path });
      return;
    }
    push(e, destIsDir ? posix.join(destDir, e.rel) : dest.path);
  });
  if (rootSources.size > 0) ensureDir(dest.path, 0o755);
  for (const f of o.inline) {
    ensureDir(destDir, 0o755);
    const name = rel(destIsDir ? posix.join(destDir, f.name) : dest.path);
    items.push({ entry: { name, type: 'file', mode: o.chmod ?? 0o644, uid, gid, mtime: o.epoch, size: f.data.length }, body: f.data });
  }
  return { items, archives };
}


/** The ADD path with archives: items and archives applied inside a sandbox rootfs (whose upper dir becomes the layer). */
export async function applyCopy(rootfs: string, sourceRoot: string, plan: CopyPlan): Promise<void> {
  if (plan.items.length > 0) await applyLayer(rootfs, writeTar(plan.items));
  for (const a of plan.archives) {
    mkdirInRoot(rootfs, a.destDir);
    const dirfd = openInRoot(rootfs, a.destDir, O_PATH | constants.O_DIRECTORY);
    try {
      const file = createReadStream('', { fd: openSource(sourceRoot, a.path) });
      try {
        await applyLayer(`/proc/self/fd/${dirfd}`, decompress(file as unknown as Readable));
      } finally {
        file.destroy();
      }
    } finally {
      closeSync(dirfd);
    }
  }
}
