import type { LogEntry } from '../log/log.ts';

/**
 * What a data-written event's log entry says about it without decoding the payload: its row count
 * (for the cold consumer's batching) and where its commit is proven — the id of the hot transaction
 * (appended inside it: see commit-receipts.ts) or the outbox row it was relayed from (committed by
 * construction).
 */
export interface EventHeaders {
  rows: number;
  /** Transaction id of the hot write; the event counts only once that transaction has committed. */
  xid?: string;
  outboxId?: string;
}

export function eventHeaders(h: EventHeaders): Record<string, string> {
  return {
    rows: String(h.rows),
    ...(h.xid === undefined ? {} : { xid: h.xid }),
    ...(h.outboxId === undefined ? {} : { outbox_id: h.outboxId }),
  };
}

/** The headers of an entry; `rows` is undefined for entries written before events carried it. */
export function readEventHeaders(entry: Pick<LogEntry, 'headers'>): Partial<EventHeaders> {
  const rows = entry.headers.rows === undefined ? undefined : Number(entry.headers.rows);
  return {
    ...(rows === undefined || !Number.isSafeInteger(rows) || rows < 0 ? {} : { rows }),
    ...(entry.headers.xid === undefined ? {} : { xid: entry.headers.xid }),
    ...(entry.headers.outbox_id === undefined ? {} : { outboxId: entry.headers.outbox_id }),
  };
}
