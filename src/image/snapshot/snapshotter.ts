/**
 * Layer snapshots: each distinct layer chain is unpacked once into
 * `<root>/snapshots/<n>/fs` and shared by every image that uses it. Short
 * numeric directory names keep overlay's `lowerdir=` option inside one page
 * (4096 bytes) even for deep images, as containerd does.
 *
 * A snapshot is published atomically: extracted under a temp name, its
 * `chain` file written, then renamed into place. A crash leaves only a temp
 * dir that init() removes.
 */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { ensureDir, fsyncDir, KeyedMutex } from '../../sys/fsutil';
import { type Digest, chainIds, isValidDigest } from '../digest';
import { applyLayer } from './apply';

export interface Snapshot {
  id: number;
  chainId: Digest;
  /** The unpacked layer (an overlay lower dir). */
  dir: string;
}

export class Snapshotter {
  private byChain = new Map<Digest, Snapshot>();
  private nextId = 1;
  private lock = new KeyedMutex();

  constructor(readonly root: string) {}

  async init(): Promise<void> {
    await ensureDir(this.root);
    for (const name of await fsp.readdir(this.root)) {
      const path = join(this.root, name);
      if (!/^\d+$/.test(name)) {
        if (name.startsWith('tmp-')) await removeTree(path);
        continue;
      }
      const id = Number(name);
      this.nextId = Math.max(this.nextId, id + 1);
      const chain = (await fsp.readFile(join(path, 'chain'), 'utf8').catch(() => '')).trim();
      if (!isValidDigest(chain)) {
        await removeTree(path);
        continue;
      }
      this.byChain.set(chain, { id, chainId: chain, dir: join(path, 'fs') });
    }
  }

  get(chainId: Digest): Snapshot | undefined {
    return this.byChain.get(chainId);
  }

  /**
   * Makes sure every layer of an image is unpacked; returns the snapshot dirs
   * bottom → top. `open(i)` gives layer i's uncompressed tar.
   */
  async prepare(diffIds: Digest[], open: (index: number) => Promise<AsyncIterable<Buffer>>): Promise<Snapshot[]> {
    const chains = chainIds(diffIds);
    const out: Snapshot[] = [];
    for (let i = 0; i < chains.length; i++) {
      const chain = chains[i];
      out.push(await this.lock.run(chain, async () => this.byChain.get(chain) ?? this.unpack(chain, await open(i))));
    }
    return out;
  }

  /**
   * Unpacks layer `index` of `diffIds` from content that is still arriving
   * and being verified (a pull): extracted under a temp name like any
   * snapshot, published only after `verified` resolves, so a layer that fails
   * its digest check never becomes visible. Layers unpack independently of
   * their parents, so several can run at once. An existing snapshot is
   * returned and `tar` drained.
   */
  async unpackVerified(diffIds: Digest[], index: number, tar: AsyncIterable<Buffer>, verified: Promise<unknown>): Promise<Snapshot> {
    const chain = chainIds(diffIds.slice(0, index + 1))[index];
    return this.lock.run(chain, async () => {
      const have = this.byChain.get(chain);
      if (!have) return this.unpack(chain, tar, verified);
      for await (const _ of tar) void _;
      return have;
    });
  }

  /**
   * Takes `dir` (moved; same filesystem) as the unpacked form of the chain's
   * top layer, for a writer that produced exactly what applyLayer would from
   * that layer's tar (the builder's COPY layers): the blob is not extracted
   * again. Undefined when the chain is already there or the move fails; the
   * caller then still owns `dir`.
   */
  async adopt(chainId: Digest, dir: string): Promise<Snapshot | undefined> {
    return this.lock.run(chainId, async () => {
      if (this.byChain.has(chainId)) return undefined;
      const tmp = join(this.root, `tmp-${randomBytes(6).toString('hex')}`);
      await fsp.mkdir(tmp, { mode: 0o700 });
      try {
        await fsp.rename(dir, join(tmp, 'fs'));
      } catch {
        await fsp.rmdir(tmp).catch(() => undefined);
        return undefined;
      }
      return this.publish(chainId, tmp);
    });
  }

  /** Makes a filled temp snapshot dir visible under the next numeric ID. */
  private async publish(chainId: Digest, tmp: string): Promise<Snapshot> {
    await fsp.writeFile(join(tmp, 'chain'), chainId + '\n');
    const id = this.nextId++;
    const final = join(this.root, String(id));
    await fsp.rename(tmp, final);
    await fsyncDir(this.root);
    const snap = { id, chainId, dir: join(final, 'fs') };
    this.byChain.set(chainId, snap);
    return snap;
  }

  private async unpack(chainId: Digest, tar: AsyncIterable<Buffer>, verified?: Promise<unknown>): Promise<Snapshot> {
    const tmp = join(this.root, `tmp-${randomBytes(6).toString('hex')}`);
    await fsp.mkdir(join(tmp, 'fs'), { recursive: true, mode: 0o700 });
    await fsp.chmod(join(tmp, 'fs'), 0o755);
    try {
      await applyLayer(join(tmp, 'fs'), tar);
      await verified;
      return await this.publish(chainId, tmp);
    } catch (e) {
      await removeTree(tmp);
      throw e;
    }
  }

  /** Removes snapshots whose chain is not in `keep` and that were made before `olderThanMs`. */
  async prune(keep: Set<Digest>, olderThanMs = Infinity): Promise<number> {
    let n = 0;
    for (const [chain, snap] of this.byChain) {
      if (keep.has(chain)) continue;
      const st = await fsp.stat(join(this.root, String(snap.id), 'chain')).catch(() => undefined);
      if (st && st.mtimeMs > olderThanMs) continue;
      await this.lock.run(chain, async () => {
        this.byChain.delete(chain);
        const dir = join(this.root, String(snap.id));
        const doomed = join(this.root, `tmp-${randomBytes(6).toString('hex')}`);
        await fsp.rename(dir, doomed);
        await removeTree(doomed);
      });
      n++;
    }
    return n;
  }

  all(): Snapshot[] {
    return [...this.byChain.values()];
  }
}

/** rm -rf that also copes with read-only dirs left by image content. */
export async function removeTree(path: string): Promise<void> {
  try {
    await fsp.rm(path, { recursive: true, force: true });
  } catch {
    await fsp.chmod(path, 0o700).catch(() => undefined);
    await fsp.rm(path, { recursive: true, force: true });
  }
}
