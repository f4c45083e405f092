import { TierflowError } from '../core/index.ts';

/** DuckDB refused or failed a statement over the lake. The message carries the SQL it ran. */
export class LakeQueryError extends TierflowError {
  readonly sql: string;

  constructor(sql: string, cause: unknown) {
    const [reason = '', ...detail] = (cause instanceof Error ? cause.message : String(cause)).split('\n');
    // The first line names both, since the command line prints only that line.
    const message = [`lake query failed: ${reason} (sql: ${oneLine(sql)})`, ...detail].join('\n');
    super('LAKE_QUERY', message.trimEnd(), { cause });
    this.sql = sql;
  }
}

/** A query reached the lake engine after close(). */
export class LakeClosedError extends TierflowError {
  constructor() {
    super('LAKE_CLOSED', 'the lake query engine is closed');
  }
}

function oneLine(sql: string): string {
  const flat = sql.replace(/\s+/g, ' ').trim();
  return flat.length > 2000 ? `${flat.slice(0, 1997)}...` : flat;
}
