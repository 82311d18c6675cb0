/**
 * A build context sent as a tar (POST /build): extracted into a temp dir under
 * `<root>/builder/tmp` with applyLayer, the engine's hardened extractor (no
 * path escapes, no symlink tricks, bounded size), then walked like any directory.
 */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { decompress } from '../image/compression';
import { applyLayer } from '../image/snapshot/apply';
import { removeTree } from '../image/snapshot/snapshotter';
import { makeTempDir } from './rootfs';

export interface UploadedContext {
  dir: string;
  remove(): Promise<void>;
}

export async function extractContext(tmpRoot: string, body: Readable): Promise<UploadedContext> {
  const top = await makeTempDir(tmpRoot, 'ctx-');
  const dir = join(top, 'context');
  await fsp.mkdir(dir, { mode: 0o755 });
  const remove = () => removeTree(top);
  try {
    await applyLayer(dir, decompress(body));
  } catch (e) {
    await remove();
    throw e;
  }
  return { dir, remove };
}
