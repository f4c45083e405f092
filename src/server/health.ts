import type { PipelineState } from '../core/index.ts';
import { HealthCheckTimeoutError } from './errors.ts';

/** One named check of /health: whether it passed, and what was found, in words. */
export interface CheckResult {
  ok: boolean;
  detail: string;
  /** What the check read, for an operator (a stage's status). */
  data?: unknown;
}

export type HealthChecks = Record<string, CheckResult>;

/**
 * One thing /health looks at. A probe yields one or more named results (the stage probe one per
 * pipeline and breaker); one that throws or outlasts the timeout fails as one result named `name`.
 */
export interface HealthProbe {
  readonly name: string;
  run(): Promise<HealthChecks>;
}

export interface HealthReport {
  healthy: boolean;
  checks: HealthChecks;
}

/** What each probe ended in: its results, or the error it threw (a timeout included). */
export type ProbeOutcome = { name: string; checks: HealthChecks } | { name: string; error: unknown };

/** Healthy when every check passed; a probe that failed as a whole is one failed check. */
export function aggregate(outcomes: readonly ProbeOutcome[]): HealthReport {
  const checks: HealthChecks = {};
  for (const outcome of outcomes) {
    if ('error' in outcome) checks[outcome.name] = { ok: false, detail: messageOf(outcome.error) };
    else Object.assign(checks, outcome.checks);
  }
  const results = Object.values(checks);
  return { healthy: results.length > 0 && results.every((r) => r.ok), checks };
}

/**
 * A pipeline passes while it is not failing and the oldest thing it has still to do is at most
 * `maxLagSeconds` old. One this process does not run now and that is not failing (a hot processor
 * waiting for the lease) passes whatever its lag: that work is another process's, whose /health
 * judges it. One that stopped on an error is inactive and failing, and fails.
 */
export function judgePipeline(state: PipelineState, maxLagSeconds: number): CheckResult {
  if (state.failing !== undefined) return { ok: false, detail: `failing: ${state.failing}` };
  if (!state.active) return { ok: true, detail: 'standby: another process runs it' };
  const lag = `lag ${state.lagSeconds.toFixed(1)} s`;
  if (state.lagSeconds > maxLagSeconds)
    return { ok: false, detail: `${lag}, over the ${maxLagSeconds} s threshold` };
  return { ok: true, detail: lag };
}

/** A breaker passes only closed: open or half-open, its side is failing or on probation. */
export function judgeBreaker(state: string): CheckResult {
  return { ok: state === 'closed', detail: state };
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Runs every probe at once, each bounded by `timeoutMs`, so /health answers within about that
 * long whatever hangs. A probe still running from an earlier request is joined, not started
 * again: a PostgreSQL that hangs gets one `SELECT 1` at a time, not one per poll.
 */
export class HealthMonitor {
  private readonly running = new Map<HealthProbe, Promise<HealthChecks>>();

  constructor(
    private readonly probes: readonly HealthProbe[],
    private readonly timeoutMs: number,
  ) {}

  async report(): Promise<HealthReport> {
    return aggregate(await Promise.all(this.probes.map((probe) => this.outcome(probe))));
  }

  private async outcome(probe: HealthProbe): Promise<ProbeOutcome> {
    try {
      return { name: probe.name, checks: await this.bounded(probe) };
    } catch (error) {
      return { name: probe.name, error };
    }
  }

  private bounded(probe: HealthProbe): Promise<HealthChecks> {
    let run = this.running.get(probe);
    if (!run) {
      run = probe.run().finally(() => this.running.delete(probe));
      this.running.set(probe, run);
      // Whoever awaits it sees its error; this keeps one that settles after every waiter timed
      // out from counting as unhandled (it was reported then, as the timeout).
      void run.catch(() => undefined);
    }
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new HealthCheckTimeoutError(probe.name, this.timeoutMs)),
        this.timeoutMs,
      );
    });
    return Promise.race([run, timeout]).finally(() => clearTimeout(timer));
  }
}
