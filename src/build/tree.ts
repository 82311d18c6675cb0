/**
 * Lists a stage's or image's rootfs as context entries (no content hashes), so
 * `COPY --from` selects with the same rules as a context copy. Symlinks are
 * never followed; nothing runs in the rootfs while it is read.
 */
import { lstatSync, readdirSync, readlinkSync } from 'node:fs';
import { comparePaths, type ContextEntry } from './context';

export function walkTree(root: string): ContextEntry[] {
  const out: ContextEntry[] = [];
  const visit = (abs: string, rel: string) => {
    let names: string[];
    try {
      names = readdirSync(abs);
    } catch {
      return;
    }
    names.sort(comparePaths);
    for (const name of names) {
      const childRel = rel === '' ? name : `${rel}/${name}`;
      const childAbs = `${abs}/${name}`;
      const st = lstatSync(childAbs, { throwIfNoEntry: false });
      if (!st) continue;
      const base = { path: childRel, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid };
      if (st.isDirectory()) {
        out.push({ ...base, type: 'dir', size: 0 });
        visit(childAbs, childRel);
      } else if (st.isSymbolicLink()) {
        const target = readlinkSync(childAbs);
        out.push({ ...base, type: 'symlink', size: target.length, linkTarget: target });
      } else if (st.isFile()) {
        out.push({ ...base, type: 'file', size: st.size });
      }
    }
  };
  visit(root, '');
  return out;
}
