/**
 * The unpacked twin of a COPY layer, written while its tar is streamed to the
 * content store; the snapshotter adopts it as that layer's snapshot, so no
 * step and no container ever extracts the blob again. It must therefore hold
 * exactly what applyLayer would make of the tar (test/unit/build-layers).
 *
 * Only the builder's own tar items land here (cleaned names, regular
 * files/dirs/symlinks), into a fresh directory. Each entry's parent is opened
 * with RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS, so even a symlink copied from the
 * context can never redirect a later write.
 */
import * as fs from 'node:fs';
import { InternalError } from '../errors';
import type { TarWriteItem } from '../image/tar/writer';
import { AT_FDCWD, O_CLOEXEC, O_PATH, RESOLVE_BENEATH, RESOLVE_NO_MAGICLINKS, RESOLVE_NO_SYMLINKS, openat2 } from '../sys/libc';

const DIR_FLAGS = O_PATH | fs.constants.O_DIRECTORY | O_CLOEXEC;
const BENEATH = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;

export class LayerDirWriter {
  private readonly rootfd: number;
  private parent?: { path: string; fd: number };
  private readonly dirs: Array<[string, number]> = [];
  /** What this writer made, name → is a directory: the dir starts empty and nothing else writes to it, so no lstat per entry. */
  private readonly made = new Map<string, boolean>();

  constructor(readonly dir: string) {
    this.rootfd = openat2(AT_FDCWD, dir, DIR_FLAGS, 0, 0);
  }

  /** An fd of the directory `path` (relative), cached for consecutive entries in one directory. */
  private parentFd(path: string): number {
    if (this.parent?.path === path) return this.parent.fd;
    if (this.parent) fs.closeSync(this.parent.fd);
    this.parent = undefined;
    const fd = path === '' ? openat2(this.rootfd, '.', DIR_FLAGS, 0, BENEATH) : openat2(this.rootfd, path, DIR_FLAGS, 0, BENEATH);
    this.parent = { path, fd };
    return fd;
  }

  /** Writes `item` here too; a file's body is copied as the tar writer reads it. */
  mirror(item: TarWriteItem): TarWriteItem {
    const e = item.entry;
    const name = String(e.name).replace(/\/+$/, '');
    if (name === '' || name.split('/').some((c) => c === '' || c === '.' || c === '..')) throw new InternalError(`layer dir: bad entry name ${name}`);
    const i = name.lastIndexOf('/');
    const pfd = this.parentFd(i < 0 ? '' : name.slice(0, i));
    const p = `/proc/self/fd/${pfd}/${name.slice(i + 1)}`;
    const uid = e.uid ?? 0;
    const gid = e.gid ?? 0;
    const mode = (e.mode ?? 0o644) & 0o7777;
    const mtime = e.mtime ?? 0;
    const existing = this.made.get(name);
    if (existing !== undefined && !(existing && e.type === 'directory')) {
      fs.rmSync(p, { recursive: true, force: true });
      if (existing) for (const k of this.made.keys()) if (k.startsWith(name + '/')) this.made.delete(k);
    }
    this.made.set(name, e.type === 'directory');
    switch (e.type) {
      case 'directory':
        if (!existing) fs.mkdirSync(p, { mode: 0o700 });
        fs.lchownSync(p, uid, gid);
        fs.chmodSync(p, mode);
        this.dirs.push([name, mtime]);
        return item;
      case 'symlink':
        fs.symlinkSync(String(e.linkname ?? ''), p);
        fs.lchownSync(p, uid, gid);
        fs.lutimesSync(p, mtime, mtime);
        return item;
      case 'file': {
        const fd = fs.openSync(p, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW, 0o600);
        fs.fchownSync(fd, uid, gid);
        fs.fchmodSync(fd, mode);
        return { entry: e, body: this.tee(item.body, fd, mtime) };
      }
      default:
        throw new InternalError(`layer dir: unexpected ${e.type} entry ${name}`);
    }
  }

  private async *tee(body: TarWriteItem['body'], fd: number, mtime: number): AsyncGenerator<Buffer> {
    try {
      if (body === undefined) return;
      const chunks: AsyncIterable<Buffer | Uint8Array> | Buffer[] = Buffer.isBuffer(body) ? [body] : body;
      for await (const c of chunks) {
        const buf = Buffer.from(c.buffer, c.byteOffset, c.byteLength);
        let off = 0;
        while (off < buf.length) off += fs.writeSync(fd, buf, off, buf.length - off);
        yield buf;
      }
    } finally {
      fs.futimesSync(fd, mtime, mtime);
      fs.closeSync(fd);
    }
  }

  /** Directory times last (creating entries bumps them), then the fds go. */
  finish(): void {
    for (const [name, mtime] of this.dirs.reverse()) {
      const i = name.lastIndexOf('/');
      try {
        const p = `/proc/self/fd/${this.parentFd(i < 0 ? '' : name.slice(0, i))}/${name.slice(i + 1)}`;
        if (fs.lstatSync(p, { throwIfNoEntry: false })?.isDirectory()) fs.utimesSync(p, mtime, mtime);
      } catch {
        // replaced by a later entry
      }
    }
    this.close();
  }

  close(): void {
    if (this.parent) fs.closeSync(this.parent.fd);
    this.parent = undefined;
    try {
      fs.closeSync(this.rootfd);
    } catch {
      // closed already
    }
  }
}
