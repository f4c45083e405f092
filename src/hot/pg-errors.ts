import { HotConnectionError, HotWriteError, TierflowError } from '../core/index.ts';

const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EHOSTUNREACH',
]);

interface PgLikeError {
  code?: string;
  message?: string;
  column?: string;
  detail?: string;
}

/** SQLSTATE classes and messages that mean the server or the connection is gone. */
export function isConnectionFailure(error: unknown): boolean {
  const e = error as PgLikeError;
  const code = e?.code ?? '';
  if (CONNECTION_CODES.has(code)) return true;
  if (code.startsWith('08') || code.startsWith('57P') || code === '53300') return true;
  const message = e?.message ?? '';
  return /Connection terminated|Client has encountered a connection error|connect ECONNREFUSED|timeout exceeded when trying to connect/i.test(
    message,
  );
}

/** Turns a driver error into a typed tierflow error, keeping the cause. */
export function toHotError(dataset: string, error: unknown): TierflowError {
  if (error instanceof TierflowError) return error;
  const e = error as PgLikeError;
  if (isConnectionFailure(error)) {
    return new HotConnectionError(
      `${dataset}: PostgreSQL is unreachable (${e?.message ?? String(error)})`,
      error,
    );
  }
  const code = e?.code ?? '';
  // serialization failure, deadlock, lock timeout, out of resources: a retry can succeed
  const retriable = code === '40001' || code === '40P01' || code === '55P03' || code.startsWith('53');
  const detail = e?.detail ? ` (${e.detail})` : '';
  return new HotWriteError(dataset, `${e?.message ?? String(error)}${detail}`, { retriable, cause: error });
}
