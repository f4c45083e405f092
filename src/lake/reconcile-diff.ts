import type { RowDigest } from './reconcile-queries.ts';

export type DifferenceKind = 'missing-in-lake' | 'missing-in-hot' | 'values-differ';

export interface DigestDifference {
  readonly kind: DifferenceKind;
  readonly digest: RowDigest;
}

/**
 * Walks two digest streams sorted by key hash in step, like a merge join, and returns the first
 * `limit` keys that differ: present on one side only, or present on both with different values.
 * It stops reading as soon as it has them, and closes both streams either way.
 */
export async function firstDifferences(
  hot: AsyncIterable<RowDigest[]>,
  lake: AsyncIterable<RowDigest[]>,
  limit: number,
): Promise<DigestDifference[]> {
  const h = new DigestCursor(hot);
  const l = new DigestCursor(lake);
  const found: DigestDifference[] = [];
  let failure: unknown;
  try {
    while (found.length < limit) {
      const a = await h.peek();
      const b = await l.peek();
      if (!a && !b) break;
      if (a && (!b || a.keyHash < b.keyHash)) {
        found.push({ kind: 'missing-in-lake', digest: a });
        h.advance();
      } else if (b && (!a || b.keyHash < a.keyHash)) {
        found.push({ kind: 'missing-in-hot', digest: b });
        l.advance();
      } else if (a && b) {
        if (a.rowHash !== b.rowHash) found.push({ kind: 'values-differ', digest: a });
        h.advance();
        l.advance();
      }
    }
  } catch (error) {
    failure = error;
  }
  const closed = await Promise.allSettled([h.close(), l.close()]);
  const errors = [failure, ...closed.map((c) => (c.status === 'rejected' ? c.reason : undefined))].filter(
    (e) => e !== undefined,
  );
  if (errors.length === 1) throw errors[0];
  if (errors.length > 1) throw new AggregateError(errors, 'reconcile: comparing digests failed');
  return found;
}

/** A pull cursor over a stream of batches: one batch in memory at a time. */
class DigestCursor {
  private readonly iterator: AsyncIterator<RowDigest[]>;
  private batch: RowDigest[] = [];
  private index = 0;
  private done = false;

  constructor(source: AsyncIterable<RowDigest[]>) {
    this.iterator = source[Symbol.asyncIterator]();
  }

  async peek(): Promise<RowDigest | undefined> {
    while (!this.done && this.index >= this.batch.length) {
      const next = await this.iterator.next();
      if (next.done) this.done = true;
      else {
        this.batch = next.value;
        this.index = 0;
      }
    }
    return this.batch[this.index];
  }

  advance(): void {
    this.index++;
  }

  async close(): Promise<void> {
    if (!this.done) {
      this.done = true;
      await this.iterator.return?.();
    }
  }
}
