import type { Dataset, StorageWriter } from './core/index.ts';
import { ConfigError, runAll } from './core/index.ts';
import { allDatasets, findDataset } from './datasets/index.ts';
import { openDatabase } from './hot/database.ts';
import { HotOnlyWriter } from './hot/hot-only-writer.ts';
import { HotStore } from './hot/hot-store.ts';
import { createPool } from './hot/pool.ts';
import { Repository } from './hot/repository.ts';
import { buildRepositories } from './hot/build-repositories.ts';
import type { Repositories } from './hot/repositories.ts';
import type { UpsertStrategy } from './hot/upsert.ts';
import type { Metrics } from './observe/metrics.ts';
import type { BreakerOptions } from './cold/breaker.ts';
import { assertLogFitsPositions } from './cold/log-fits-positions.ts';
import { DualStorageWriter } from './pipeline/dual-storage-writer.ts';
import { ensureStage1Schema } from './pipeline/stage1-schema.ts';
import { noopMetrics } from './observe/metrics.ts';
import type { Log } from './log/log.ts';
import { defaultLogSpec, openLog } from './log/open-log.ts';
import { ensureCheckpoints } from './wal/checkpoints.ts';
import { HotStorageProcessor } from './wal/hot-storage-processor.ts';
import { WAL_TOPIC } from './wal/wal-entry.ts';
import type { WalRuntime } from './wal/stage2.ts';
import type { WalAck } from './wal/wal-writer.ts';
import { WalWriter } from './wal/wal-writer.ts';

export interface TierflowConfig {
  /** A PostgreSQL URL. Default: $DATABASE_URL; without either, the embedded server. */
  databaseUrl?: string;
  /** Where embedded state lives. Default: $TIERFLOW_DATA_DIR or `.tierflow`. */
  dataDir?: string;
  /** PostgreSQL schema for the dataset tables. Default: $TIERFLOW_SCHEMA or `tierflow`. */
  schema?: string;
  /** Create or evolve tables on start. Default: true. */
  migrate?: boolean;
  upsertStrategy?: UpsertStrategy;
  /**
   * How writes travel: 'hot-only'; 'dual-write' (stage 1: hot, and an event per batch for
   * startStage1 to carry to the lake); 'wal' (stage 2: the write-ahead log first, applied to hot by
   * the hot processor started here and to the lake by startStage2). Default: $TIERFLOW_MODE or 'hot-only'.
   */
  mode?: TierflowMode;
  /** Dual-write mode: the hot circuit breaker's settings. */
  hotBreaker?: BreakerOptions;
  /**
   * WAL mode: the write-ahead log. An open Log (left open on close), or a spec (`file:<dir>`,
   * `redis://…`, `nats://…`). Default: $TIERFLOW_LOG or the file log under the data directory.
   */
  log?: Log | string;
  /** Told about failures of background work (WAL mode: the hot processor's retries). */
  onBackgroundError?: (error: unknown) => void;
  /** WAL mode: acknowledge once durable in the WAL ('wal') or also applied to PostgreSQL ('hot'). Default: $TIERFLOW_WAL_ACK or 'wal'. */
  walAck?: WalAck;
  poolSize?: number;
  metrics?: Metrics;
}

export type TierflowMode = 'hot-only' | 'dual-write' | 'wal';
const MODES: readonly TierflowMode[] = ['hot-only', 'dual-write', 'wal'];
const ACKS: readonly WalAck[] = ['wal', 'hot'];

export interface Tierflow extends AsyncDisposable {
  readonly mode: TierflowMode;
  readonly repositories: Repositories;
  readonly hot: HotStore;
  readonly writer: StorageWriter;
  readonly databaseUrl: string;
  readonly databaseSource: 'external' | 'embedded';
  readonly schema: string;
  /** WAL mode: the log and the hot processor applying it (started with the tierflow). */
  readonly wal: WalRuntime | undefined;
  /** The repository of a dataset by its name (`market_data`, …), for generic tools such as import. */
  repository(name: string): Repository<Record<string, unknown>, Record<string, unknown>>;
  close(): Promise<void>;
}

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

export function resolveConfig(config: TierflowConfig = {}) {
  const schema = config.schema ?? process.env.TIERFLOW_SCHEMA ?? 'tierflow';
  if (!SCHEMA_NAME.test(schema)) throw new ConfigError(`schema "${schema}" is not a lower-case identifier`);
  const mode = (config.mode ?? process.env.TIERFLOW_MODE ?? 'hot-only') as TierflowMode;
  if (!MODES.includes(mode)) throw new ConfigError(`mode "${mode}" is not one of ${MODES.join(', ')}`);
  const walAck = (config.walAck ?? process.env.TIERFLOW_WAL_ACK ?? 'wal') as WalAck;
  if (!ACKS.includes(walAck)) throw new ConfigError(`WAL ack "${walAck}" is not one of ${ACKS.join(', ')}`);
  return {
    mode,
    walAck,
    databaseUrl: config.databaseUrl ?? (process.env.DATABASE_URL || undefined),
    dataDir: config.dataDir ?? process.env.TIERFLOW_DATA_DIR ?? '.tierflow',
    schema,
  };
}

/** Connects (starting the embedded PostgreSQL when no URL is configured), migrates, and builds the repositories. */
export async function createTierflow(config: TierflowConfig = {}): Promise<Tierflow> {
  const resolved = resolveConfig(config);
  const database = await openDatabase({ url: resolved.databaseUrl, dataDir: resolved.dataDir });
  const metrics = config.metrics ?? noopMetrics;
  const pool = createPool(database.url, { max: config.poolSize, metrics });
  const hot = new HotStore(pool, { schema: resolved.schema, strategy: config.upsertStrategy, metrics });
  try {
    if (config.migrate !== false) await hot.migrate(allDatasets);
    if (resolved.mode === 'dual-write') await ensureStage1Schema(pool, resolved.schema);
    if (resolved.mode === 'wal') await ensureCheckpoints(pool, resolved.schema);
  } catch (error) {
    await pool.end();
    await database.release();
    throw error;
  }
  let wal: (WalRuntime & { ownsLog: boolean }) | undefined;
  if (resolved.mode === 'wal') {
    const given = config.log;
    let log: Log;
    try {
      log =
        typeof given === 'object'
          ? given
          : await openLog(given ?? defaultLogSpec(resolved.dataDir), { metrics });
    } catch (error) {
      await pool.end();
      await database.release();
      throw error;
    }
    try {
      await assertLogFitsPositions(log, 'stage 2', WAL_TOPIC);
    } catch (error) {
      if (typeof given !== 'object') await log.close();
      await pool.end();
      await database.release();
      throw error;
    }
    const hotProcessor = new HotStorageProcessor(hot, log, {
      datasetOf: findDataset,
      metrics,
      onError: config.onBackgroundError,
    });
    hotProcessor.start();
    wal = { log, hotProcessor, hot, ownsLog: typeof given !== 'object' };
  }
  const writer: StorageWriter =
    resolved.mode === 'dual-write'
      ? new DualStorageWriter(hot, { metrics, breaker: config.hotBreaker })
      : wal
        ? new WalWriter(wal.log, { ack: resolved.walAck, hotApplied: wal.hotProcessor, metrics })
        : new HotOnlyWriter(hot, { metrics });
  const make = <R, I>(dataset: Dataset<R, I>) => new Repository(dataset, writer, hot);
  const repositories = buildRepositories(writer, hot);

  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      const steps = [
        () => writer.close(),
        async () => {
          await wal?.hotProcessor.stop();
          if (wal?.ownsLog) await wal.log.close();
        },
        () => pool.end(),
        () => database.release(),
      ];
      await runAll(steps, 'tierflow: closing');
    })());

  return {
    mode: resolved.mode,
    repositories,
    hot,
    writer,
    databaseUrl: database.url,
    databaseSource: database.source,
    schema: resolved.schema,
    wal,
    repository: (name) =>
      make(findDataset(name)) as Repository<Record<string, unknown>, Record<string, unknown>>,
    close,
    [Symbol.asyncDispose]: close,
  };
}
