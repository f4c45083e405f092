import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import path from 'node:path';
import { allDatasets, findDataset, marketData } from '../datasets/index.ts';
import { openLakeQuery } from '../lake/duckdb-lake.ts';
import { LakeWriter } from '../lake/lake-writer.ts';
import { reconcile } from '../lake/reconcile.ts';
import type { Log } from '../log/log.ts';
import { topicExtent } from '../log/log.ts';
import { LakeEventSink } from '../cold/event-sink.ts';
import { assertLogFitsPositions } from '../cold/log-fits-positions.ts';
import { COLD_GROUP, EVENT_TOPIC } from '../pipeline/stage1.ts';
import { qualified } from '../hot/sql.ts';
import { OUTBOX_TABLE } from '../pipeline/outbox.ts';
import type { Tierflow } from '../tierflow.ts';
import { createTierflow } from '../tierflow.ts';
import { replay } from '../wal/replay.ts';
import { WAL_TOPIC } from '../wal/wal-entry.ts';
import { WalWriter } from '../wal/wal-writer.ts';

export interface CheckResult {
  check: string;
  ok: boolean;
  detail: string;
}

/** Events the relay may have waiting before stage 1 counts as unhealthy. */
const OUTBOX_LIMIT = 100;
const COLD_LAG_LIMIT_S = 60;
const PROBE_TOPIC = 'tierflow-check-wal';
const PROBE_ROWS = 200;

/**
 * The checklist for entering stage 2, evaluated from live figures: stage 1 healthy (outbox drained
 * by the relay), its cold lag under a minute, hot and cold reconciled clean, the WAL's log backend
 * reachable and durable (and one stage 2 accepts), and a replay into a scratch schema and lake run
 * and verified. Every check runs, so one report names every gap; the replay needs the backend, so
 * it fails as skipped when the backend check failed.
 */
export async function checkEntryToWal(options: {
  tf: Tierflow;
  log: Log;
  lakeRoot: string;
  scratchDir: string;
}): Promise<CheckResult[]> {
  const { tf, log } = options;
  const results: CheckResult[] = [];
  const run = async (check: string, work: () => Promise<{ ok: boolean; detail: string }>) => {
    try {
      results.push({ check, ...(await work()) });
    } catch (error) {
      results.push({ check, ok: false, detail: (error as Error).message });
    }
  };

  await run('dual writer healthy', async () => {
    const { rows } = await tf.hot.pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM ${qualified(tf.schema, OUTBOX_TABLE)}`,
    );
    const waiting = rows[0]!.n;
    return {
      ok: waiting <= OUTBOX_LIMIT,
      detail: `${waiting} events waiting in the outbox (limit ${OUTBOX_LIMIT})`,
    };
  });

  await run('cold lag under a minute', async () => {
    if (!(await log.topics()).includes(EVENT_TOPIC)) return { ok: true, detail: 'no stage 1 events yet' };
    const lag = await log.lag(COLD_GROUP, EVENT_TOPIC);
    if (lag === 0) return { ok: true, detail: 'the cold consumer has committed every event' };
    const committed = await log.committed(COLD_GROUP, EVENT_TOPIC);
    let oldest: number | undefined;
    for await (const batch of log.read(EVENT_TOPIC, {
      from: committed === undefined ? 'earliest' : { after: committed },
      follow: false,
      maxBatchEntries: 1,
    })) {
      oldest = batch[0]?.timestamp;
      break;
    }
    const seconds = oldest === undefined ? 0 : (Date.now() - oldest) / 1000;
    return {
      ok: seconds < COLD_LAG_LIMIT_S,
      detail: `${lag} events behind, the oldest ${seconds.toFixed(1)} s old (limit ${COLD_LAG_LIMIT_S} s)`,
    };
  });

  await run('reconciliation clean', async () => {
    await using lake = await openLakeQuery(options.lakeRoot, allDatasets);
    const report = await reconcile({ pool: tf.hot.pool, schema: tf.schema, lake, datasets: allDatasets });
    const bad = report.days.filter((d) => d.status === 'mismatch');
    return {
      ok: report.clean,
      detail: report.clean
        ? `${report.days.length} dataset-days agree`
        : `${bad.length} of ${report.days.length} dataset-days differ, first ${bad[0]!.dataset} ${bad[0]!.day}`,
    };
  });

  let reachable = false;
  await run('WAL backend reachable', async () => {
    // Reachable is not enough when stage 2 would refuse the backend at start-up.
    await assertLogFitsPositions(log, 'stage 2', WAL_TOPIC);
    const started = performance.now();
    const [position] = await log.append(PROBE_TOPIC, [
      { key: 'probe', payload: new TextEncoder().encode('probe') },
    ]);
    reachable = true;
    return {
      ok: true,
      detail: `${log.backend} log: a probe entry durable at ${position} in ${(performance.now() - started).toFixed(1)} ms`,
    };
  });

  await run('replay into a scratch target verified', async () => {
    if (!reachable) return { ok: false, detail: 'skipped: the WAL backend is not reachable' };
    const scratch = await mkdtemp(path.join(options.scratchDir, 'tierflow-check-'));
    const schema = scratchSchema(tf.schema);
    let target: Tierflow | undefined;
    let lake: LakeWriter | undefined;
    try {
      await tf.hot.pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      target = await createTierflow({ databaseUrl: tf.databaseUrl, schema, mode: 'hot-only' });
      // Entries of the WAL when there are any; else a probe batch on a scratch topic.
      const hasWal = (await log.topics()).includes(WAL_TOPIC);
      const topic = hasWal ? WAL_TOPIC : PROBE_TOPIC;
      const from = hasWal ? ('earliest' as const) : ((await topicExtent(log, PROBE_TOPIC)).last ?? 0n) + 1n;
      if (!hasWal) {
        const probe = new WalWriter(log, { topic: PROBE_TOPIC, origin: 'migrate-check' });
        const start = Date.UTC(2000, 0, 3);
        await probe.upsert(
          marketData,
          Array.from({ length: PROBE_ROWS }, (_, i) => ({
            symbol: 'CHECK',
            interval: '1m',
            bucket_start: new Date(start + i * 60_000),
            open: 1,
            high: 1,
            low: 1,
            close: 1,
            source: 'migrate-check',
          })),
        );
      }
      lake = await LakeWriter.open(path.join(scratch, 'lake'));
      const result = await replay({
        log,
        topic,
        from,
        hot: target.hot,
        lake: new LakeEventSink(lake, findDataset),
        datasetOf: findDataset,
      });
      await lake.close();
      lake = undefined;
      await using query = await openLakeQuery(path.join(scratch, 'lake'), allDatasets);
      const report = await reconcile({ pool: target.hot.pool, schema, lake: query, datasets: allDatasets });
      return {
        ok: report.clean && result.rows > 0,
        detail: `${result.entries} entries, ${result.rows} rows of ${hasWal ? 'the WAL' : 'a probe batch'} replayed into schema ${schema} and a scratch lake: ${report.clean ? 'reconciled clean' : 'NOT clean'}`,
      };
    } finally {
      await lake?.close();
      await target?.close();
      await tf.hot.pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await rm(scratch, { recursive: true, force: true });
    }
  });
  return results;
}

/**
 * The schema the replay check creates and drops: `<schema>_check`, or when that passes
 * PostgreSQL's 63 bytes, the schema's start and a hash. Never the schema itself: cutting
 * `<schema>_check` to 63 bytes gave back a 63-byte schema's own name, and the check dropped it.
 */
export function scratchSchema(schema: string): string {
  const plain = `${schema}_check`;
  if (Buffer.byteLength(plain) <= 63) return plain;
  const hash = createHash('sha256').update(schema).digest('hex').slice(0, 8);
  const scratch = `${schema.replace(/[^a-z0-9_]/g, '').slice(0, 63 - '_check_'.length - hash.length)}_check_${hash}`;
  if (scratch === schema) throw new Error(`no scratch schema name apart from "${schema}"`);
  return scratch;
}
