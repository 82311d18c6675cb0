/** Progress of a pull or push, in Docker's vocabulary; the API turns these into JSON messages. */
export interface ProgressEvent {
  /** Short layer ID (12 hex) or tag; absent for whole-operation lines. */
  id?: string;
  status: string;
  current?: number;
  total?: number;
}

export type ProgressFn = (e: ProgressEvent) => void;

export function shortId(digest: string): string {
  return digest.replace(/^sha256:/, '').slice(0, 12);
}

/** Limits "Downloading"/"Pushing" events to about ten a second per layer. */
export function throttled(fn: ProgressFn, id: string, status: string, total: number): (current: number) => void {
  let last = 0;
  return (current) => {
    const now = Date.now();
    if (now - last < 100 && current < total) return;
    last = now;
    fn({ id, status, current, total });
  };
}
