import type pg from 'pg';
import { ConfigError } from '../core/index.ts';
import type { Log } from '../log/log.ts';
import { HealthMonitor } from './health.ts';
import type { HealthReport } from './health.ts';
import type { StageView } from './health-probes.ts';
import { logProbe, postgresProbe, stageProbe } from './health-probes.ts';

export interface HealthSettings {
  /** A pipeline whose oldest undone entry is older than this fails /health. */
  maxLagSeconds: number;
  /** Each probe's bound; /health answers within about this long. */
  timeoutMs: number;
}

/**
 * Five minutes: far above the second or two a pipeline lags when well (the cold path commits every
 * second), and above the catch-up after a short outage (a PostgreSQL restart, a few breaker
 * cycles), so /health does not flap on those; short enough that a pipeline stuck or falling
 * behind is reported while the backlog is still minutes, not hours.
 */
export const DEFAULT_MAX_LAG_SECONDS = 300;
/** A `SELECT 1` or an fsync'd append takes milliseconds; two seconds is trouble, not noise. */
export const DEFAULT_HEALTH_TIMEOUT_MS = 2_000;

function positive(value: number | string | undefined, what: string): number | undefined {
  if (value === undefined || value === '') return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0)
    throw new ConfigError(`${what} must be a positive number, not "${value}"`);
  return n;
}

/** The options given, else $TIERFLOW_HEALTH_MAX_LAG_SECONDS and $TIERFLOW_HEALTH_TIMEOUT_MS, else the defaults. */
export function healthSettings(
  options: { maxLagSeconds?: number | string; timeoutMs?: number | string } = {},
  env: NodeJS.ProcessEnv = process.env,
): HealthSettings {
  return {
    maxLagSeconds:
      positive(options.maxLagSeconds, '--max-lag-seconds') ??
      positive(env.TIERFLOW_HEALTH_MAX_LAG_SECONDS, 'TIERFLOW_HEALTH_MAX_LAG_SECONDS') ??
      DEFAULT_MAX_LAG_SECONDS,
    timeoutMs:
      positive(options.timeoutMs, '--health-timeout-ms') ??
      positive(env.TIERFLOW_HEALTH_TIMEOUT_MS, 'TIERFLOW_HEALTH_TIMEOUT_MS') ??
      DEFAULT_HEALTH_TIMEOUT_MS,
  };
}

export type TierflowHealthReport = HealthReport & { mode: string };

/**
 * /health of a tierflow in any mode: PostgreSQL always; the log when one is in use; the stage's
 * pipelines and breakers when a stage runs.
 */
export function tierflowHealth(options: {
  mode: string;
  pool: pg.Pool;
  log?: Log;
  stage?: () => Promise<StageView>;
  settings: HealthSettings;
}): () => Promise<TierflowHealthReport> {
  const { settings } = options;
  const probes = [postgresProbe(options.pool, settings.timeoutMs)];
  if (options.log) probes.push(logProbe(options.log));
  if (options.stage) probes.push(stageProbe(options.stage, settings.maxLagSeconds));
  const monitor = new HealthMonitor(probes, settings.timeoutMs);
  return async () => {
    const report = await monitor.report();
    return { healthy: report.healthy, mode: options.mode, checks: report.checks };
  };
}
