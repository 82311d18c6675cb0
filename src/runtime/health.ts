/**
 * Healthchecks as Docker runs them (moby daemon/health.go): a probe command
 * exec'd in the container every Interval, Timeout each; Retries consecutive
 * failures make it unhealthy; failures inside StartPeriod do not count until
 * the first success. The state lives in State.Health with the last 5 probes.
 */
import type { HealthConfig } from '../image/types';

export type HealthStatus = 'starting' | 'healthy' | 'unhealthy';

export interface HealthLogEntry {
  Start: string;
  End: string;
  ExitCode: number;
  Output: string;
}

/** Docker's State.Health. */
export interface HealthState {
  Status: HealthStatus;
  FailingStreak: number;
  Log: HealthLogEntry[];
}

/** Runs one probe in the container: its exit code and combined output (-1 when it timed out). */
export type ProbeRunner = (argv: string[], timeoutMs: number) => Promise<{ exitCode: number; output: string }>;

const NS_PER_MS = 1_000_000;
const DEFAULT_INTERVAL_MS = 30_000;
const DEFAULT_TIMEOUT_MS = 30_000;
const DEFAULT_START_INTERVAL_MS = 5_000;
const DEFAULT_RETRIES = 3;
/** Docker keeps this many probe results and this much output of each. */
const MAX_LOG_ENTRIES = 5;
const MAX_OUTPUT = 4096;

/** The probe's argv, or undefined when the container has no (or a disabled) healthcheck. */
export function probeCommand(hc: HealthConfig | undefined, shell: string[] = ['/bin/sh', '-c']): string[] | undefined {
  const test = hc?.Test;
  if (!test || test.length === 0) return undefined;
  switch (test[0]) {
    case 'NONE':
      return undefined;
    case 'CMD':
      return test.length > 1 ? test.slice(1) : undefined;
    case 'CMD-SHELL':
      return test.length > 1 ? [...shell, test.slice(1).join(' ')] : undefined;
    default:
      // A bare command list is taken as CMD (the legacy form Docker also accepts).
      return test;
  }
}

interface Timing {
  interval: number;
  timeout: number;
  startPeriod: number;
  startInterval: number;
  retries: number;
}

function timing(hc: HealthConfig): Timing {
  const ms = (ns: number | undefined, dflt: number) => (ns && ns > 0 ? Math.max(1, Math.round(ns / NS_PER_MS)) : dflt);
  return {
    interval: ms(hc.Interval, DEFAULT_INTERVAL_MS),
    timeout: ms(hc.Timeout, DEFAULT_TIMEOUT_MS),
    startPeriod: ms(hc.StartPeriod, 0),
    startInterval: ms(hc.StartInterval, DEFAULT_START_INTERVAL_MS),
    retries: hc.Retries && hc.Retries > 0 ? hc.Retries : DEFAULT_RETRIES,
  };
}

/** Probes one running container until stopped; reports each new state. */
export class HealthMonitor {
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private readonly t: Timing;
  private readonly startedAt = Date.now();

  constructor(
    hc: HealthConfig,
    private readonly argv: string[],
    private readonly run: ProbeRunner,
    private state: HealthState,
    /** Called after every probe; `changed` when Status moved (Docker's health_status event). */
    private readonly report: (state: HealthState, changed: boolean) => void,
  ) {
    this.t = timing(hc);
  }

  start(): void {
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }

  private inStartPeriod(now: number): boolean {
    return now - this.startedAt < this.t.startPeriod;
  }

  private schedule(): void {
    if (this.stopped) return;
    // During the start period Docker probes at the (shorter) start interval.
    const delay = this.inStartPeriod(Date.now()) && this.state.Status === 'starting' ? Math.min(this.t.startInterval, this.t.interval) : this.t.interval;
    this.timer = setTimeout(() => void this.probe(), delay);
    this.timer.unref();
  }

  private async probe(): Promise<void> {
    if (this.stopped) return;
    const start = new Date();
    let result: { exitCode: number; output: string };
    try {
      result = await this.run(this.argv, this.t.timeout);
    } catch (e) {
      result = { exitCode: -1, output: e instanceof Error ? e.message : String(e) };
    }
    if (this.stopped) return;
    const entry: HealthLogEntry = {
      Start: start.toISOString(),
      End: new Date().toISOString(),
      ExitCode: result.exitCode,
      Output: result.output.length > MAX_OUTPUT ? result.output.slice(0, MAX_OUTPUT) : result.output,
    };
    const before = this.state.Status;
    const next = applyProbe(this.state, entry, this.t.retries, this.inStartPeriod(start.getTime()));
    this.state = next;
    this.report(next, next.Status !== before);
    this.schedule();
  }
}

/** The state after one probe result (pure: Docker's rules in one place). */
export function applyProbe(prev: HealthState, entry: HealthLogEntry, retries: number, inStartPeriod: boolean): HealthState {
  const Log = [...prev.Log, entry].slice(-MAX_LOG_ENTRIES);
  if (entry.ExitCode === 0) return { Status: 'healthy', FailingStreak: 0, Log };
  // Failures while still starting up don't count (moby: "ignore failures during the start period").
  if (inStartPeriod && prev.Status === 'starting') return { ...prev, Log };
  const FailingStreak = prev.FailingStreak + 1;
  return { Status: FailingStreak >= retries ? 'unhealthy' : prev.Status, FailingStreak, Log };
}

export function initialHealth(): HealthState {
  return { Status: 'starting', FailingStreak: 0, Log: [] };
}
