import pg from 'pg';
import { isConnectionFailure } from './pg-errors.ts';
import { fromPostgresTimestamp } from '../core/index.ts';
import type { Metrics } from '../observe/metrics.ts';
import { METRIC, noopMetrics } from '../observe/metrics.ts';

const OID = { int8: 20, date: 1082, timestamp: 1114, timestamptz: 1184, numeric: 1700 } as const;

/**
 * Values come back in tierflow's normalised forms: int8 as bigint, numeric as exact text,
 * timestamptz as ISO text with microseconds, date as YYYY-MM-DD.
 */
const typeParsers = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    switch (oid) {
      case OID.int8:
        return (text: string) => BigInt(text);
      case OID.timestamptz:
      case OID.timestamp:
        return fromPostgresTimestamp;
      case OID.date:
      case OID.numeric:
        return (text: string) => text;
      default:
        return pg.types.getTypeParser(oid, format);
    }
  },
};

export interface PoolOptions {
  max?: number;
  connectionTimeoutMillis?: number;
  applicationName?: string;
  metrics?: Metrics;
}

export function createPool(connectionString: string, options: PoolOptions = {}): pg.Pool {
  const pool = new pg.Pool({
    connectionString,
    max: options.max ?? 10,
    connectionTimeoutMillis: options.connectionTimeoutMillis ?? 10_000,
    application_name: options.applicationName ?? 'tierflow',
    options: '-c TimeZone=UTC',
    types: typeParsers,
  });
  // An idle client losing its connection must not crash the process: pg removes the client, the
  // next query reconnects or reports the outage. Count it so an operator sees the flapping.
  const metrics = options.metrics ?? noopMetrics;
  pool.on('error', (error) => {
    metrics.count(METRIC.hotPoolErrors, { type: isConnectionFailure(error) ? 'connection' : 'other' });
  });
  return pool;
}
