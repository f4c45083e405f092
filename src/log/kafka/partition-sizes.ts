import type { Consumer } from '@platformatic/kafka';
import { fetchPartitions } from './fetch.ts';
import { unavailable } from './kafka-errors.ts';
import { nextOffsetAfter, recordsOf } from './records.ts';
import type { TopicInfo } from './topics.ts';

const SCAN_BYTES = 8 * 1024 * 1024;
/** At most this many remembered points per partition: older ones thin out to every other. */
const MAX_POINTS = 4096;

interface Point {
  offset: bigint;
  /** Bytes of the records before `offset`, counted from the scan's origin. */
  before: number;
}

interface Scanned {
  topicId: string;
  points: Point[];
}

/**
 * The bytes a partition's entries take, from its log start to its end. Kafka reports sizes only
 * per segment file, and a segment keeps its bytes after DeleteRecords moves the start past them,
 * so the size is counted from the records: each process scans a partition once, then only what
 * was appended since, and keeps a bounded list of (offset, bytes before it) to subtract what
 * retention dropped.
 */
export class PartitionSizes {
  private readonly scanned = new Map<string, Scanned>();

  constructor(private readonly fetcher: Consumer) {}

  async bytes(
    topic: string,
    info: TopicInfo,
    partition: number,
    start: bigint,
    end: bigint,
  ): Promise<number> {
    const key = `${topic}\0${partition}`;
    let state = this.scanned.get(key);
    const last = state?.points.at(-1);
    if (!state || state.topicId !== info.id || state.points[0]!.offset > start || last!.offset > end) {
      state = { topicId: info.id, points: [{ offset: start, before: 0 }] };
      this.scanned.set(key, state);
    }
    const tail = state.points.at(-1)!;
    if (tail.offset < end) {
      const added = await this.scan(topic, info, partition, tail.offset, end);
      state.points.push({ offset: end, before: tail.before + added });
    }
    // Bytes before `start`, from the nearest point at or after it (what lies below the log start
    // can no longer be fetched): that point's count less the records from `start` to it.
    const above = state.points.find((p) => p.offset >= start)!;
    const before =
      above.before -
      (above.offset > start ? await this.scan(topic, info, partition, start, above.offset) : 0);
    state.points = [{ offset: start, before }, ...state.points.filter((p) => p.offset > start)];
    if (state.points.length > MAX_POINTS)
      state.points = state.points.filter((_, n, all) => n % 2 === 0 || n === all.length - 1);
    return state.points.at(-1)!.before - before;
  }

  forget(topic: string): void {
    for (const key of this.scanned.keys()) if (key.startsWith(`${topic}\0`)) this.scanned.delete(key);
  }

  /** Bytes of the records in [from, to). */
  async scan(topic: string, info: TopicInfo, partition: number, from: bigint, to: bigint): Promise<number> {
    let bytes = 0;
    await this.walk(topic, info, partition, from, to, (_offset, size) => {
      bytes += size;
      return true;
    });
    return bytes;
  }

  /** The first offset from `from` on such that the records before it take at least `bytes` (or `to`). */
  async offsetAfter(
    topic: string,
    info: TopicInfo,
    partition: number,
    from: bigint,
    to: bigint,
    bytes: number,
  ): Promise<bigint> {
    let counted = 0;
    let cut = from;
    await this.walk(topic, info, partition, from, to, (offset, size) => {
      counted += size;
      cut = offset + 1n;
      return counted < bytes;
    });
    return cut;
  }

  /** Visits the records in [from, to) with their sizes, while `visit` returns true. */
  private async walk(
    topic: string,
    info: TopicInfo,
    partition: number,
    from: bigint,
    to: bigint,
    visit: (offset: bigint, bytes: number) => boolean,
  ): Promise<void> {
    let at = from;
    while (at < to) {
      let fetched;
      try {
        fetched = await fetchPartitions(this.fetcher, info, new Map([[partition, at]]), {
          waitMs: 0,
          maxBytes: SCAN_BYTES,
        });
      } catch (error) {
        throw unavailable(`counting the bytes of "${topic}" failed`, error);
      }
      const part = fetched.find((f) => f.partition === partition);
      if (!part || part.errorCode !== 0)
        throw unavailable(
          `counting the bytes of "${topic}" failed`,
          new Error(`fetch error code ${part?.errorCode}`),
        );
      for (const record of recordsOf(topic, partition, part.batches, at)) {
        if (record.offset >= to || !visit(record.offset, record.bytes)) return;
      }
      const after = nextOffsetAfter(part.batches);
      if (after === undefined || after <= at) return;
      at = after;
    }
  }
}
