import type pg from 'pg';
import type { PipelineState } from '../core/index.ts';
import type { Log, RetentionPolicy } from '../log/log.ts';
import type { HealthChecks, HealthProbe } from './health.ts';
import { judgeBreaker, judgePipeline } from './health.ts';

const elapsed = (started: number) => `${(performance.now() - started).toFixed(1)} ms`;

/**
 * PostgreSQL answers a `SELECT 1` on the tierflow's own pool: the connections its writes use. The
 * server drops the query after `timeoutMs` (pg's query_timeout), so a hung server does not keep a
 * pooled connection busy after /health has given up on it.
 */
export function postgresProbe(pool: pg.Pool, timeoutMs: number): HealthProbe {
  return {
    name: 'postgres',
    async run() {
      const started = performance.now();
      const query: pg.QueryConfig & { query_timeout: number } = {
        text: 'SELECT 1',
        query_timeout: timeoutMs,
      };
      await pool.query(query);
      return { postgres: { ok: true, detail: `SELECT 1 in ${elapsed(started)}` } };
    },
  };
}

/** The topic /health appends to; nothing reads it, and the probe's retention keeps it small. */
export const HEALTH_TOPIC = 'tierflow-health';
/** What of the health topic survives its retention: an hour of probes, and at most 1 MiB. */
const HEALTH_RETENTION = { maxAgeMs: 60 * 60_000, maxBytes: 1024 * 1024 };
const RETENTION_EVERY_MS = 60_000;

/**
 * The log takes an append: one small entry on HEALTH_TOPIC, acknowledged durable as every append
 * is (fsync on the file log, the JetStream ack on NATS, the AOF on Redis), so a full disk, a
 * read-only volume or a broker refusing writes shows here, not only a dead connection. Retention
 * runs on the topic at most once a minute so it keeps an hour of probes, at most 1 MiB. The file
 * log drops whole sealed segments only, so there the topic holds up to one segment more (64 MiB by
 * default: over a million probes of about 50 bytes). A failing retention fails the check: the log
 * then refuses part of its work.
 */
export function logProbe(
  log: Log,
  options: { retention?: RetentionPolicy; retentionEveryMs?: number } = {},
): HealthProbe {
  const retention = options.retention ?? HEALTH_RETENTION;
  const every = options.retentionEveryMs ?? RETENTION_EVERY_MS;
  const payload = new TextEncoder().encode('health');
  let retainedAt: number | undefined;
  return {
    name: 'log',
    async run() {
      const started = performance.now();
      const [position] = await log.append(HEALTH_TOPIC, [{ key: 'health', payload }]);
      const detail = `${log.backend} log: an entry on ${HEALTH_TOPIC} durable at ${position} in ${elapsed(started)}`;
      if (retainedAt === undefined || Date.now() - retainedAt >= every) {
        try {
          await log.applyRetention(HEALTH_TOPIC, retention);
          retainedAt = Date.now();
        } catch (error) {
          return {
            log: { ok: false, detail: `${detail}, but its retention failed: ${(error as Error).message}` },
          };
        }
      }
      return { log: { ok: true, detail } };
    },
  };
}

/** What /health needs of a running stage: its pipelines, its breakers, and its status to show. */
export interface StageView {
  pipelines: readonly PipelineState[];
  /** Breaker name → state ('closed', 'open', 'half-open'). */
  breakers: Readonly<Record<string, string>>;
  status: unknown;
}

/**
 * A stage's pipelines and breakers, from one read of its status: `stage` (the status itself, as
 * data), `pipeline:<name>` for each pipeline, `breaker:<name>` for each breaker.
 */
export function stageProbe(view: () => Promise<StageView>, maxLagSeconds: number): HealthProbe {
  return {
    name: 'stage',
    async run() {
      const started = performance.now();
      const { pipelines, breakers, status } = await view();
      const checks: HealthChecks = {
        stage: {
          ok: true,
          detail: `status read in ${elapsed(started)}; pipelines reported: ${pipelines.length}`,
          data: status,
        },
      };
      for (const pipeline of pipelines)
        checks[`pipeline:${pipeline.name}`] = judgePipeline(pipeline, maxLagSeconds);
      for (const [name, state] of Object.entries(breakers)) checks[`breaker:${name}`] = judgeBreaker(state);
      return checks;
    },
  };
}
