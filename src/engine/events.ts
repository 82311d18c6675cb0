/** The engine's event stream (`berth events`, GET /events), in Docker's message shape. */
import { EventEmitter } from 'node:events';

export interface EngineEvent {
  Type: 'container' | 'image' | 'volume' | 'network' | 'daemon';
  Action: string;
  Actor: { ID: string; Attributes: Record<string, string> };
  scope: 'local';
  time: number;
  timeNano: number;
  /** Legacy fields older clients read. */
  status?: string;
  id?: string;
  from?: string;
}

export class EventBus {
  private emitter = new EventEmitter();
  private recent: EngineEvent[] = [];

  constructor() {
    this.emitter.setMaxListeners(0);
  }

  emit(type: EngineEvent['Type'], action: string, id: string, attributes: Record<string, string> = {}): void {
    const nowNs = BigInt(Date.now()) * 1_000_000n + process.hrtime.bigint() % 1_000_000n;
    const ev: EngineEvent = {
      Type: type,
      Action: action,
      Actor: { ID: id, Attributes: attributes },
      scope: 'local',
      time: Number(nowNs / 1_000_000_000n),
      timeNano: Number(nowNs),
    };
    if (type === 'container' || type === 'image') {
      ev.status = action;
      ev.id = id;
      if (attributes.image) ev.from = attributes.image;
    }
    this.recent.push(ev);
    if (this.recent.length > 1000) this.recent.shift();
    this.emitter.emit('event', ev);
  }

  /** Past events (for --since) then live ones, until the returned function is called. */
  subscribe(fn: (e: EngineEvent) => void, sinceSec?: number): () => void {
    if (sinceSec !== undefined) for (const e of this.recent) if (e.time >= sinceSec) fn(e);
    this.emitter.on('event', fn);
    return () => this.emitter.off('event', fn);
  }
}
