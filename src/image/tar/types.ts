/**
 * The tar entry model shared by Berth's reader, writer and layer extractor.
 * Names, link targets and PAX values are Buffers: layer tars may hold
 * non-UTF-8 names and binary xattrs (security.capability), and Berth keeps
 * them byte-exact (see shared/design/dependencies.md §1).
 */
export type EntryType =
  | 'file'
  | 'hardlink'
  | 'symlink'
  | 'chardev'
  | 'blockdev'
  | 'directory'
  | 'fifo';

export interface TarHeader {
  /** Full path after PAX `path` / GNU long-name overrides, as raw bytes (no leading './' stripping). */
  name: Buffer;
  type: EntryType;
  /** Permission and special bits (07777). */
  mode: number;
  uid: number;
  gid: number;
  uname: string;
  gname: string;
  /** Body size in bytes (0 for everything but files). */
  size: number;
  /** Modification time in seconds since the epoch, fractional when PAX gave sub-second precision. */
  mtime: number;
  /** Optional PAX atime/ctime, seconds since epoch. */
  atime?: number;
  ctime?: number;
  /** Link target (symlink target, or hard-link source path inside the archive), raw bytes. */
  linkname: Buffer;
  devmajor: number;
  devminor: number;
  /** Extended attributes from PAX `SCHILY.xattr.<name>` records; values are raw bytes. */
  xattrs: Map<string, Buffer>;
  /** Every PAX record of this entry (keys as strings, values raw), including the ones mapped above. */
  pax: Map<string, Buffer>;
}

/** One entry from the reader: header plus a body stream that must be consumed or skipped before the next entry. */
export interface TarEntry {
  header: TarHeader;
  /** Body bytes; empty for non-file entries. Consuming it is optional: the reader drains what is left. */
  body: AsyncIterable<Buffer>;
}

/** What a writer accepts; missing fields get safe defaults (mode 0644/0755, uid/gid 0, mtime 0). */
export interface TarEntryInput {
  name: Buffer | string;
  type: EntryType;
  mode?: number;
  uid?: number;
  gid?: number;
  uname?: string;
  gname?: string;
  size?: number;
  mtime?: number;
  /** Written (as PAX records) only when given, so output stays deterministic. */
  atime?: number;
  ctime?: number;
  linkname?: Buffer | string;
  devmajor?: number;
  devminor?: number;
  xattrs?: Map<string, Buffer>;
  /** Extra PAX records to write verbatim. */
  pax?: Map<string, Buffer>;
}
