/**
 * A single-consumer byte queue with backpressure, for teeing a download into
 * a second reader (the layer unpacker) while the first (the blob writer) is
 * fed directly. The producer's push() waits while more than `limit` bytes
 * are queued; a consumer that stops early (a tar reader at its end-of-archive
 * marker) turns later pushes into no-ops; fail() and abort() carry an error
 * to the other side.
 */
export class Feed implements AsyncIterable<Buffer> {
  private queue: Buffer[] = [];
  private queued = 0;
  private ended = false;
  private closed = false;
  private failure: { error: unknown } | undefined;
  private aborted: { error: unknown } | undefined;
  private wakeConsumer: (() => void) | undefined;
  private wakeProducer: (() => void) | undefined;

  constructor(private readonly limit = 4 << 20) {}

  /** Queues a chunk; rejects when the consumer failed (abort). */
  async push(chunk: Buffer): Promise<void> {
    if (this.aborted) throw this.aborted.error;
    if (this.closed) return;
    this.queue.push(chunk);
    this.queued += chunk.length;
    this.wake('consumer');
    while (this.queued > this.limit && !this.closed && !this.aborted) await new Promise<void>((r) => (this.wakeProducer = r));
    const aborted = this.aborted as { error: unknown } | undefined;
    if (aborted) throw aborted.error;
  }

  /** The producer is done: the consumer sees the end after the queued data. */
  end(): void {
    this.ended = true;
    this.wake('consumer');
  }

  /** The producer failed: the consumer's next read throws `error`. */
  fail(error: unknown): void {
    this.failure ??= { error };
    this.wake('consumer');
  }

  /** The consumer failed: the producer's pending and next push() throw `error`. */
  abort(error: unknown): void {
    this.aborted ??= { error };
    this.wake('producer');
  }

  private wake(side: 'consumer' | 'producer'): void {
    const f = side === 'consumer' ? this.wakeConsumer : this.wakeProducer;
    if (side === 'consumer') this.wakeConsumer = undefined;
    else this.wakeProducer = undefined;
    f?.();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Buffer> {
    try {
      for (;;) {
        if (this.failure) throw this.failure.error;
        const next = this.queue.shift();
        if (next) {
          this.queued -= next.length;
          if (this.queued <= this.limit) this.wake('producer');
          yield next;
          continue;
        }
        if (this.ended) return;
        await new Promise<void>((r) => (this.wakeConsumer = r));
      }
    } finally {
      this.closed = true;
      this.queue = [];
      this.queued = 0;
      this.wake('producer');
    }
  }
}
