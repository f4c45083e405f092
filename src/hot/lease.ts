import pg from 'pg';
import { TierflowError } from '../core/index.ts';

/** The connection that held a lease is gone: whoever takes the lease next may be working already. */
export class LeaseLostError extends TierflowError {
  constructor(name: string, cause?: unknown) {
    super('LEASE_LOST', `lost the lease "${name}": its PostgreSQL session ended`, { retriable: true, cause });
  }
}

export interface LeaseOptions {
  /** Between tries while another session holds the lease. Default 500 ms. */
  retryMs?: number;
  /** How often a held lease's session is checked with a round trip. Default 2 s. */
  checkMs?: number;
  /** Connection failures while trying or holding; the lease keeps trying. */
  onError?: (error: unknown) => void;
}

export interface HeldLease {
  /** Aborted when the session holding the lease fails: stop the work the lease guards. */
  readonly lost: AbortSignal;
  /** Gives the lease up (safe twice). */
  release(): Promise<void>;
}

const abortable = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
  });

/**
 * One owner at a time for a job that must run once per database (a schema's hot processor, a
 * CDC capture, a stream job's partition), wherever the processes run: a PostgreSQL session-level
 * advisory lock on a connection of its own. When the owner dies (kill -9, a lost machine) its
 * session ends and the lock with it, so a waiting process takes over within `retryMs`.
 *
 * A lock alone cannot fence: between the owner's session failing and the owner noticing, the next
 * owner may start. Work guarded by a lease must therefore also be conditional in its own
 * transactions (the hot processor's checkpoint moves only from the position it read).
 */
export class PgLease {
  private readonly key: string;

  constructor(
    private readonly connection: pg.ClientConfig,
    /** Unique per job and database: 'hot-processor:<schema>:<name>'. */
    readonly name: string,
    private readonly options: LeaseOptions = {},
  ) {
    this.key = `tierflow:${name}`;
  }

  /**
   * Resolves once this process holds the lease; `whileWaiting` runs after each refused try.
   * Rejects with the signal's reason only if `signal` aborts first.
   */
  async acquire(signal: AbortSignal, whileWaiting?: () => Promise<void>): Promise<HeldLease> {
    const retryMs = this.options.retryMs ?? 500;
    for (;;) {
      signal.throwIfAborted();
      const client = new pg.Client({ ...this.connection, keepAlive: true });
      // A session failing while idle emits 'error': without a listener that would crash the process.
      const failed = new AbortController();
      client.on('error', (error) => failed.abort(new LeaseLostError(this.name, error)));
      client.on('end', () => failed.abort(new LeaseLostError(this.name)));
      let held = false;
      try {
        await client.connect();
        const { rows } = await client.query<{ ok: boolean }>(
          'SELECT pg_try_advisory_lock(hashtextextended($1, 0)) AS ok',
          [this.key],
        );
        held = rows[0]?.ok === true;
      } catch (error) {
        this.options.onError?.(error);
      }
      if (held && !failed.signal.aborted) return this.hold(client, failed);
      await client.end().catch(() => undefined); // the session is of no further use either way
      if (whileWaiting) await whileWaiting();
      await abortable(retryMs, signal);
    }
  }

  private hold(client: pg.Client, failed: AbortController): HeldLease {
    const check = setInterval(() => {
      client.query('SELECT 1').catch((error: unknown) => {
        this.options.onError?.(error);
        failed.abort(new LeaseLostError(this.name, error));
      });
    }, this.options.checkMs ?? 2_000);
    check.unref();
    let released: Promise<void> | undefined;
    return {
      lost: failed.signal,
      release: () =>
        (released ??= (async () => {
          clearInterval(check);
          try {
            if (!failed.signal.aborted)
              await client.query('SELECT pg_advisory_unlock(hashtextextended($1, 0))', [this.key]);
          } finally {
            // Ending the session releases the lock in any case.
            await client.end().catch(() => undefined);
          }
        })()),
    };
  }
}
