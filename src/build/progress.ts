/**
 * What a build reports while it runs. The builder emits these events; the API
 * route turns them into Docker's classic JSON message stream (`Step 1/4 : …`,
 * ` ---> Using cache`) and, for Berth's own CLI, into structured messages.
 */

export type BuildEvent =
  /** A Dockerfile instruction starts; `index` is 1-based over every instruction built. */
  | { type: 'step'; index: number; total: number; text: string; stage: string; layer: boolean }
  /** The step's result came from the build cache. */
  | { type: 'cached' }
  /** The step is not in the cache, and why (shown with `--progress plain`). */
  | { type: 'miss'; reason: string }
  /** A RUN step's container starts. */
  | { type: 'running'; id: string }
  /** Output of a RUN step, as the command wrote it. */
  | { type: 'output'; data: string }
  /** The step finished; `id` is a short ID of its result (cache key). */
  | { type: 'done'; ms: number; id: string }
  | { type: 'warning'; message: string };

export type ProgressSink = (event: BuildEvent) => void;
