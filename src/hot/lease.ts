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
  /** A round trip of the lease's session that takes longer fails it. Default 10 s. */
  queryTimeoutMs?: number;
  /** Connection failures while trying or holding; the lease keeps trying. */
  onError?: (error: unknown) => void;
  /** Each try that reached PostgreSQL, taken or not: the server answers again. */
  onContact?: () => void;
}

export interface HeldLease {
  /** Aborted when the session holding the lease fails: stop the work the lease guards. */
  readonly lost: AbortSignal;
  /** Gives the lease up (safe twice). */
  release(): Promise<void>;
}

/**
 * Server-side keepalives for the lease's session: PostgreSQL's default (the kernel's, often two
 * hours) would keep a lost machine's lock that long. With these the server drops a silent
 * peer's session, and its lock, in about 10 + 3 × 5 s. Set once connected, as ordinary settings:
 * startup options can be overridden by the URL's, or refused by a pooler.
 */
const KEEPALIVES =
  'SET tcp_keepalives_idle = 10; SET tcp_keepalives_interval = 5; SET tcp_keepalives_count = 3';

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

/** One PostgreSQL session of the lease's own, and whether it has failed. */
interface Session {
  client: pg.Client;
  failed: AbortController;
}

/**
 * One owner at a time for a job that must run once per database (a schema's hot processor, a
 * CDC capture, a stream job's partition), wherever the processes run: a PostgreSQL session-level
 * advisory lock on a connection of its own. When the owner dies its session ends and the lock
 * with it: at once for a killed process (its socket is closed), within about 25 s for a lost
 * machine (keepalives), and a waiting process takes over within `retryMs`. Waiting processes
 * keep one session each and retry on it. Needs a direct connection or session pooling: behind a
 * transaction pooler (PgBouncer in transaction mode) a session lock means nothing.
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

  private async connect(): Promise<Session> {
    const client = new pg.Client({
      ...this.connection,
      keepAlive: true,
      keepAliveInitialDelayMillis: 10_000,
      query_timeout: this.options.queryTimeoutMs ?? 10_000,
    });
    const failed = new AbortController();
    // A session failing while idle emits 'error': without a listener that would crash the process.
    client.on('error', (error) => failed.abort(new LeaseLostError(this.name, error)));
    client.on('end', () => failed.abort(new LeaseLostError(this.name)));
    try {
      await client.connect();
      await client.query(KEEPALIVES);
    } catch (error) {
      await end(client);
      throw error;
    }
    return { client, failed };
  }

  /**
   * Resolves once this process holds the lease; `whileWaiting` runs after each refused try.
   * Rejects with the signal's reason only if `signal` aborts first.
   */
  async acquire(signal: AbortSignal, whileWaiting?: () => Promise<void>): Promise<HeldLease> {
    const retryMs = this.options.retryMs ?? 500;
    let session: Session | undefined;
    try {
      for (;;) {
        signal.throwIfAborted();
        try {
          if (session?.failed.signal.aborted) {
            await end(session.client);
            session = undefined;
          }
          session ??= await this.connect();
          const { rows } = await session.client.query<{ ok: boolean }>(
            'SELECT pg_try_advisory_lock(hashtextextended($1, 0)) AS ok',
            [this.key],
          );
          this.options.onContact?.();
          if (rows[0]?.ok === true && !session.failed.signal.aborted) {
            const held = this.hold(session);
            session = undefined;
            return held;
          }
        } catch (error) {
          this.options.onError?.(error);
          if (session) session.failed.abort(new LeaseLostError(this.name, error));
        }
        if (whileWaiting) await whileWaiting();
        await abortable(retryMs, signal);
      }
    } finally {
      if (session) await end(session.client);
    }
  }

  private hold({ client, failed }: Session): HeldLease {
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
          } catch (error) {
            // Ending the session below releases the lock all the same.
            this.options.onError?.(error);
          } finally {
            await end(client);
          }
        })()),
    };
  }
}

/** Ends a session; one already broken may fail to end, and is gone either way. */
async function end(client: pg.Client): Promise<void> {
  try {
    await client.end();
  } catch {
    // Nothing left to release: the server ended the session or never had it.
  }
}
