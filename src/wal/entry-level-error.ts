import { HotWriteError, TierflowError } from '../core/index.ts';

/** SQLSTATE classes that blame the deployment: 42 a missing table or column, or no privilege; 3F no such schema. */
const DEPLOYMENT_CLASSES = ['42', '3F'];

const sqlStateOf = (error: TierflowError): string | undefined => {
  const code = (error.cause as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
};

/**
 * Whether the hot processor must stop on an error rather than retry it: a tierflow error no retry
 * can mend (the log behind the checkpoint, a misconfiguration), or PostgreSQL saying the schema
 * is not what the processor needs. Other refusals PostgreSQL does not class as retriable (read
 * only during a failover, a statement timeout, an internal error) are retried with backoff: a
 * stop would pass from process to process with the lease and halt the hot tier everywhere.
 */
export function stopsTheProcessor(error: unknown): boolean {
  if (!(error instanceof TierflowError) || error.retriable) return false;
  if (!(error instanceof HotWriteError)) return true;
  const sqlState = sqlStateOf(error);
  return sqlState !== undefined && DEPLOYMENT_CLASSES.some((c) => sqlState.startsWith(c));
}

/** SQLSTATE classes that blame the data: 22 data exception (out of range, bad value), 23 a constraint. */
const DATA_CLASSES = ['22', '23'];

/**
 * Whether PostgreSQL refused a WAL entry for what is in it, so that applying it again can never
 * succeed and it belongs on the dead-letter topic. A missing table or column (class 42) is not:
 * it blames the deployment, every entry would fail alike, and the processor stops instead.
 */
export function isEntryLevelHotError(error: unknown): boolean {
  if (!(error instanceof TierflowError) || error.retriable) return false;
  if (error.code === 'VALIDATION' || error.code === 'UNKNOWN_DATASET' || error.code === 'EVENT_DECODE')
    return true;
  if (!(error instanceof HotWriteError)) return false;
  const sqlState = sqlStateOf(error);
  return sqlState !== undefined && DATA_CLASSES.some((c) => sqlState.startsWith(c));
}
