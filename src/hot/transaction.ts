import type pg from 'pg';

/**
 * Checks a client out of the pool for `work`. While checked out, a client whose connection dies
 * between queries emits 'error' with nobody listening, which would crash the process; here the
 * error is caught, the next query fails with it anyway, and the client is destroyed on release.
 */
/** Clients whose state is unknown (a failed ROLLBACK): destroyed on release, never reused. */
const unusable = new WeakSet<pg.PoolClient>();

export async function withClient<T>(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  const onError = (error: Error) => {
    broken ??= error;
  };
  client.on('error', onError);
  try {
    return await work(client);
  } catch (error) {
    broken ??= isConnectionLoss(error) ? (error as Error) : undefined;
    throw error;
  } finally {
    client.off('error', onError);
    if (!broken && unusable.has(client)) broken = new Error('the client could not roll back');
    client.release(broken);
  }
}

function isConnectionLoss(error: unknown): boolean {
  const e = error as { code?: string; message?: string };
  return (
    (e?.code ?? '').startsWith('08') ||
    (e?.code ?? '').startsWith('57P') ||
    /Connection terminated/i.test(e?.message ?? '')
  );
}

/**
 * Runs `work` in one transaction: COMMIT on success, ROLLBACK on any error (the original error is
 * rethrown; a failed ROLLBACK destroys the client instead of returning it to the pool).
 */
export function inTransaction<T>(
  pool: pg.Pool,
  work: (client: pg.PoolClient, begun: Record<string, unknown> | undefined) => Promise<T>,
  /** A statement (no parameters) run first, in BEGIN's round trip; `work` gets its first row. */
  withBegin?: string,
): Promise<T> {
  return withClient(pool, async (client) => {
    try {
      // One round trip for both (a failure in the second leaves a transaction to roll back).
      const begun = withBegin
        ? ((await client.query(`BEGIN; ${withBegin}`)) as unknown as pg.QueryResult[])[1]?.rows[0]
        : (await client.query('BEGIN'), undefined);
      const result = await work(client, begun);
      await client.query('COMMIT');
      return result;
    } catch (error) {
      try {
        await client.query('ROLLBACK');
      } catch {
        // The connection is gone or confused; the original error says why the work failed.
        unusable.add(client);
      }
      throw error;
    }
  });
}
