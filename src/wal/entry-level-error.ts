import { HotWriteError, TierflowError } from '../core/index.ts';

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
  const sqlState = (error.cause as { code?: unknown } | undefined)?.code;
  return typeof sqlState === 'string' && DATA_CLASSES.some((c) => sqlState.startsWith(c));
}
