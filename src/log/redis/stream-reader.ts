import type { Redis } from 'ioredis';
import type { LogEntry } from '../log.ts';
import type { RawStreamEntry } from './entry-codec.ts';
import { decodeStreamEntry, rawEntryBytes } from './entry-codec.ts';

export interface StreamReadOptions {
  /** The shared connection, for catch-up reads (XRANGE returns at once, so it never stalls appends). */
  client: Redis;
  /** Opens this reader's own connection for XREAD BLOCK; the reader disconnects it when it ends. */
  openBlocking: () => Redis;
  topic: string;
  streamKey: string;
  /** Exclusive start: the reader delivers entries with IDs above this one. */
  afterId: string;
  /** A start at a time: entries taken before it are skipped until the first that is not. */
  notBefore?: number;
  follow: boolean;
  maxBatchEntries: number;
  maxBatchBytes: number;
  /** Aborted when the caller's signal aborts or the log closes; the reader then returns. */
  stop: AbortSignal;
}

/** A blocked XREAD wakes at least this often, so a reader notices a stop even if a disconnect is lost. */
const BLOCK_MS = 1000;
/** Entry sizes are unknown before the first page, so it asks for few entries; later pages follow the sizes seen. */
const FIRST_PAGE = 8;

/**
 * Catches up with XRANGE, then (when following) waits with XREAD BLOCK on a connection of its
 * own. Redis can bound a page only by a count, so the count tracks the entry sizes seen, and
 * what does not fit the batch's byte bound is dropped and fetched again: the reader never holds
 * more than about one batch.
 */
export async function* readStream(options: StreamReadOptions): AsyncGenerator<LogEntry[]> {
  const { client, topic, streamKey, follow, maxBatchEntries, maxBatchBytes, stop } = options;
  let afterId = options.afterId;
  let notBefore = options.notBefore;
  let pageSize = Math.min(maxBatchEntries, FIRST_PAGE);
  let blocking: Redis | undefined;
  let tailing = false;
  // Disconnecting rejects a pending XREAD BLOCK at once, instead of after up to BLOCK_MS.
  const wake = () => blocking?.disconnect();
  stop.addEventListener('abort', wake, { once: true });
  try {
    while (!stop.aborted) {
      const requested = pageSize;
      let page: RawStreamEntry[];
      try {
        if (tailing) {
          blocking ??= options.openBlocking();
          page = await blockingRead(blocking, streamKey, afterId, requested);
        } else {
          page = await client.xrangeBuffer(streamKey, `(${afterId}`, '+', 'COUNT', requested);
        }
      } catch (error) {
        if (stop.aborted) return; // the read was cut short by the stop itself
        throw error;
      }
      if (stop.aborted) return;
      const sizes = page.map(rawEntryBytes);
      const taken = fitBatch(sizes, maxBatchBytes);
      if (taken > 0) {
        let batch = page.slice(0, taken).map((raw) => decodeStreamEntry(topic, raw));
        afterId = page[taken - 1]![0].toString('latin1');
        pageSize = nextPageSize(sizes, maxBatchEntries, maxBatchBytes);
        page = []; // the rest is fetched again later: only this batch stays alive while the consumer works
        if (notBefore !== undefined) {
          // Times never decrease along a stream: past the first entry at or after the time, all are.
          const time = notBefore;
          const start = batch.findIndex((entry) => entry.timestamp >= time);
          batch = start < 0 ? [] : batch.slice(start);
          if (start >= 0) notBefore = undefined;
        }
        if (batch.length > 0) yield batch;
      }
      if (!tailing && sizes.length < requested && taken === sizes.length) {
        if (!follow) return;
        tailing = true;
      }
    }
  } finally {
    stop.removeEventListener('abort', wake);
    blocking?.disconnect();
  }
}

async function blockingRead(
  connection: Redis,
  streamKey: string,
  afterId: string,
  count: number,
): Promise<RawStreamEntry[]> {
  const reply = await connection.xreadBuffer(
    'COUNT',
    count,
    'BLOCK',
    BLOCK_MS,
    'STREAMS',
    streamKey,
    afterId,
  );
  return reply?.[0]?.[1] ?? [];
}

/** How many leading entries fit in `maxBytes`; always at least one, so an oversized entry travels alone. */
export function fitBatch(sizes: readonly number[], maxBytes: number): number {
  let bytes = 0;
  let taken = 0;
  for (const size of sizes) {
    if (taken > 0 && bytes + size > maxBytes) break;
    bytes += size;
    taken++;
  }
  return taken;
}

function nextPageSize(sizes: readonly number[], maxEntries: number, maxBytes: number): number {
  const average = Math.max(1, sizes.reduce((a, b) => a + b, 0) / sizes.length);
  return Math.max(1, Math.min(maxEntries, Math.floor(maxBytes / average)));
}
