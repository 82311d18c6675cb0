/**
 * Names and helpers shared by layer extraction (apply.ts) and layer packing
 * (pack.ts): OCI whiteout entries, overlayfs whiteout/opaque markers, layer
 * path cleaning, and which xattrs may cross the layer boundary.
 *
 * OCI image-spec layer.md: `.wh.<name>` deletes <name> from lower layers,
 * `.wh..wh..opq` hides all lower siblings of its directory. overlayfs encodes
 * the same as a char device 0/0 named <name> and the xattr
 * trusted.overlay.opaque=y on the directory.
 */
import type { BigIntStats } from 'node:fs';
import { isUtf8 } from 'node:buffer';
import { InvalidArgumentError } from '../../errors';

export const WHITEOUT_PREFIX = '.wh.';
/** aufs-era metadata names start with this (`.wh..wh.plnk`, `.wh..wh.aufs`). */
export const WHITEOUT_META_PREFIX = '.wh..wh.';
export const WHITEOUT_OPAQUE = '.wh..wh..opq';
export const OVERLAY_OPAQUE_XATTR = 'trusted.overlay.opaque';
/** Present on upper dirs mounted with redirect_dir/metacopy; a plain tar cannot express them. */
export const OVERLAY_REDIRECT_XATTR = 'trusted.overlay.redirect';
export const OVERLAY_METACOPY_XATTR = 'trusted.overlay.metacopy';

const PREFIX = Buffer.from(WHITEOUT_PREFIX);
const META_PREFIX = Buffer.from(WHITEOUT_META_PREFIX);
const OPAQUE = Buffer.from(WHITEOUT_OPAQUE);

export type Whiteout =
  | { kind: 'opaque' }
  /** Deletes `target`, a single name in the same directory. */
  | { kind: 'whiteout'; target: Buffer }
  /** aufs bookkeeping (`.wh..wh.plnk` ...): carries nothing for overlay. */
  | { kind: 'meta' };

/**
 * Classifies a leaf name; undefined for an ordinary name. Throws for whiteouts
 * that would name something other than a sibling (`.wh.`, `.wh..`, `.wh...`),
 * as containerd's validateWhiteout does.
 */
export function parseWhiteout(leaf: Buffer, entry: Buffer): Whiteout | undefined {
  if (!startsWith(leaf, PREFIX)) return undefined;
  if (leaf.equals(OPAQUE)) return { kind: 'opaque' };
  if (startsWith(leaf, META_PREFIX)) return { kind: 'meta' };
  const target = leaf.subarray(PREFIX.length);
  if (target.length === 0 || isDot(target) || isDotDot(target)) {
    throw new InvalidArgumentError(`layer entry ${quoteName(entry)} is an invalid whiteout`);
  }
  return { kind: 'whiteout', target };
}

/** `.wh.<name>` for pack. */
export function whiteoutName(name: Buffer): Buffer {
  return Buffer.concat([PREFIX, name]);
}

export const OPAQUE_NAME = OPAQUE;

export function isWhiteoutPrefixed(name: Buffer): boolean {
  return startsWith(name, PREFIX);
}

/** overlayfs' whiteout: a character device with device number 0/0. */
export function isOverlayWhiteout(st: BigIntStats): boolean {
  return st.isCharacterDevice() && st.rdev === 0n;
}

/**
 * Xattrs a layer must not set: trusted.* steers overlayfs (opaque, redirect,
 * metacopy, origin) and other privileged consumers; user.overlay.* does the
 * same for userxattr mounts; security.selinux labels belong to the host policy.
 */
export function skipXattrOnApply(name: string): boolean {
  return name.startsWith('trusted.') || name.startsWith('user.overlay.') || name === 'security.selinux';
}

/** Xattrs left out of a packed layer: overlay bookkeeping and host labels. */
export function skipXattrOnPack(name: string): boolean {
  return name.startsWith('trusted.overlay.') || name.startsWith('user.overlay.') || name === 'security.selinux';
}

/**
 * Cleans a layer path like Go's filepath.Clean relative to the root: leading
 * '/' and './' go, empty and '.' components collapse, '..' pops. Returns the
 * components, or undefined when '..' would climb above the root (Berth rejects
 * those rather than clamping them, so a hostile layer is reported, not
 * silently rewritten). An empty array is the root itself.
 */
export function cleanComponents(name: Buffer): Buffer[] | undefined {
  const out: Buffer[] = [];
  let start = 0;
  for (let i = 0; i <= name.length; i++) {
    if (i < name.length && name[i] !== 0x2f) continue;
    const c = name.subarray(start, i);
    start = i + 1;
    if (c.length === 0 || isDot(c)) continue;
    if (isDotDot(c)) {
      if (out.length === 0) return undefined;
      out.pop();
      continue;
    }
    out.push(c);
  }
  return out;
}

export function joinComponents(parts: Buffer[]): Buffer {
  const slash = Buffer.from('/');
  const pieces: Buffer[] = [];
  parts.forEach((p, i) => {
    if (i > 0) pieces.push(slash);
    pieces.push(p);
  });
  return Buffer.concat(pieces);
}

/** A name for error messages: JSON-quoted, with bytes that are not UTF-8 shown as \xNN. */
export function quoteName(name: Buffer): string {
  if (isUtf8(name)) return JSON.stringify(name.toString('utf8'));
  let s = '';
  for (const b of name) {
    if (b >= 0x20 && b < 0x7f && b !== 0x22 && b !== 0x5c) s += String.fromCharCode(b);
    else s += `\\x${b.toString(16).padStart(2, '0')}`;
  }
  return `"${s}"`;
}

/** A tar name: a string when the bytes are UTF-8 (the common case), else the raw bytes. */
export function tarName(name: Buffer): Buffer | string {
  return isUtf8(name) ? name.toString('utf8') : name;
}

function startsWith(b: Buffer, prefix: Buffer): boolean {
  return b.length >= prefix.length && b.subarray(0, prefix.length).equals(prefix);
}

function isDot(c: Buffer): boolean {
  return c.length === 1 && c[0] === 0x2e;
}

function isDotDot(c: Buffer): boolean {
  return c.length === 2 && c[0] === 0x2e && c[1] === 0x2e;
}
