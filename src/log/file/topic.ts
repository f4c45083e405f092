import type { FileHandle } from 'node:fs/promises';
import { open, readdir, rm, truncate } from 'node:fs/promises';
import path from 'node:path';
import { LogCorruptionError, RecordDecodeError } from '../errors.ts';
import type { LogEntry } from '../log.ts';
import { mkdirDurable, syncDirectory } from '../../core/durable-fs.ts';
import { FRAME_HEADER_BYTES, decodeRecord } from './record.ts';
import { Segment, parseSegmentName } from './segment.ts';

const READ_CHUNK_BYTES = 1024 * 1024;

/**
 * The segments of one topic. Only durable data is visible here: a segment's size and next
 * offset move forward after the fsync that made the bytes durable, never before.
 */
export class Topic {
  readonly segments: Segment[] = [];
  /** Active segment's write handle and the byte position the next write goes to. */
  handle: FileHandle | undefined;
  lastTimestamp = 0;
  private waiters = new Set<() => void>();

  private constructor(
    readonly name: string,
    readonly dir: string,
  ) {}

  /** Opens (or creates) a topic directory and recovers it: torn tails are cut, corruption is an error. */
  static async open(name: string, dir: string, create: boolean): Promise<Topic> {
    const topic = new Topic(name, dir);
    if (create) await mkdirDurable(dir);
    const bases = (await readdir(dir))
      .map(parseSegmentName)
      .filter((b): b is bigint => b !== undefined)
      .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    for (const [i, base] of bases.entries()) {
      const segment = new Segment(dir, base);
      const isTail = i === bases.length - 1;
      if (isTail || !(await segment.loadIndex())) {
        const { tornAt } = await segment.scan(isTail);
        if (tornAt !== undefined) {
          await truncate(segment.file, tornAt);
          const handle = await open(segment.file, 'r+');
          await handle.datasync().finally(() => handle.close());
        }
        if (!isTail) {
          segment.sealed = true;
          await segment.writeIndex();
        }
      }
      const previous = topic.segments.at(-1);
      if (previous && previous.nextOffset !== segment.baseOffset) {
        throw new LogCorruptionError(
          segment.file,
          0,
          `segment starts at ${segment.baseOffset}, the previous one ends at ${previous.nextOffset}`,
        );
      }
      topic.segments.push(segment);
    }
    if (topic.segments.length === 0) await topic.addSegment(0n);
    topic.handle = await topic.active.openForAppend();
    topic.lastTimestamp =
      topic.active.lastTimestamp ?? topic.segments.findLast((s) => s.lastTimestamp)?.lastTimestamp ?? 0;
    return topic;
  }

  get active(): Segment {
    return this.segments.at(-1)!;
  }

  get firstOffset(): bigint {
    return this.segments[0]!.baseOffset;
  }

  get nextOffset(): bigint {
    return this.active.nextOffset;
  }

  get bytes(): number {
    return this.segments.reduce((sum, s) => sum + s.size, 0);
  }

  /** Seals the active segment (index written) and starts a new one at the next offset. */
  async roll(): Promise<void> {
    const old = this.active;
    old.sealed = true;
    await old.writeIndex();
    await this.handle?.close();
    await this.addSegment(old.nextOffset);
    this.handle = await this.active.openForAppend();
  }

  private async addSegment(base: bigint): Promise<void> {
    const segment = new Segment(this.dir, base);
    const handle = await open(segment.file, 'wx');
    await handle.close();
    await syncDirectory(this.dir);
    this.segments.push(segment);
  }

  /** Removes the oldest sealed segments for retention; returns the entries dropped. */
  async dropOldest(count: number): Promise<number> {
    const victims = this.segments.slice(0, Math.min(count, this.segments.length - 1));
    let dropped = 0;
    for (const segment of victims) {
      await rm(segment.file);
      await rm(segment.indexFile, { force: true });
      dropped += segment.entries;
    }
    this.segments.splice(0, victims.length);
    if (victims.length > 0) await syncDirectory(this.dir);
    return dropped;
  }

  /** The offset of the first entry appended at or after `ms`. */
  async offsetAtTime(ms: number): Promise<bigint> {
    const segment = this.segments.find((s) => s.lastTimestamp !== undefined && s.lastTimestamp >= ms);
    if (!segment) return this.nextOffset;
    const start = segment.seekTime(ms);
    const cursor = new ReadCursor(this);
    try {
      let offset = start.offset;
      for (;;) {
        const batch = await cursor.read(offset, 1000, Number.POSITIVE_INFINITY);
        if (batch.length === 0) return this.nextOffset;
        const hit = batch.find((e) => e.timestamp >= ms);
        if (hit) return hit.position;
        offset = batch.at(-1)!.position + 1n;
      }
    } finally {
      await cursor.close();
    }
  }

  /** Resolves when durable data beyond `offset` exists, or `stop` fires. */
  waitBeyond(offset: bigint, stop: Promise<void>): Promise<void> {
    if (this.nextOffset > offset) return Promise.resolve();
    return new Promise((resolve) => {
      const wake = () => {
        this.waiters.delete(wake);
        resolve();
      };
      this.waiters.add(wake);
      void stop.then(wake);
    });
  }

  notify(): void {
    for (const wake of [...this.waiters]) wake();
  }
}

/**
 * A reader's position in a topic: reads durable records in offset order, batch by batch, and
 * remembers where it stopped so the next batch needs no index lookup.
 */
export class ReadCursor {
  private handle: FileHandle | undefined;
  private segment: Segment | undefined;
  private offset = -1n;
  private position = 0;

  constructor(private readonly topic: Topic) {}

  async read(from: bigint, maxEntries: number, maxBytes: number): Promise<LogEntry[]> {
    const topic = this.topic;
    const start = from < topic.firstOffset ? topic.firstOffset : from; // dropped by retention
    if (start >= topic.nextOffset) return [];
    const segment = topic.segments.findLast((s) => s.baseOffset <= start)!;
    if (segment !== this.segment) {
      await this.close();
      this.segment = segment;
      this.handle = await open(segment.file, 'r');
      this.offset = -1n;
    }
    if (this.offset !== start) {
      const point = segment.seekOffset(start);
      this.offset = point.offset;
      this.position = point.position;
    }
    const out: LogEntry[] = [];
    let bytes = 0;
    let buffer = Buffer.alloc(0);
    let bufferStart = this.position;
    while (this.position < segment.size && out.length < maxEntries) {
      const within = this.position - bufferStart;
      let result;
      try {
        result = decodeRecord(buffer, within);
      } catch (error) {
        if (error instanceof RecordDecodeError)
          throw new LogCorruptionError(segment.file, this.position, error.message);
        throw error;
      }
      if (result.kind === 'incomplete') {
        const held = buffer.length - within;
        const available = segment.size - this.position;
        if (held >= available)
          throw new LogCorruptionError(segment.file, this.position, 'a durable record is cut short');
        const frameBytes =
          held >= FRAME_HEADER_BYTES ? FRAME_HEADER_BYTES + buffer.readUInt32LE(within + 1) : 0;
        const length = Math.min(Math.max(READ_CHUNK_BYTES, frameBytes), available);
        buffer = Buffer.allocUnsafeSlow(length);
        const { bytesRead } = await this.handle!.read(buffer, 0, length, this.position);
        if (bytesRead < length)
          throw new LogCorruptionError(
            segment.file,
            this.position,
            'the file is shorter than its durable size',
          );
        bufferStart = this.position;
        continue;
      }
      const { record, size } = result;
      if (record.offset !== this.offset) {
        throw new LogCorruptionError(
          segment.file,
          this.position,
          `found offset ${record.offset}, expected ${this.offset}`,
        );
      }
      this.position += size;
      this.offset++;
      if (record.offset < start) continue;
      if (out.length > 0 && bytes + record.payload.length > maxBytes) {
        this.position -= size;
        this.offset--;
        break;
      }
      bytes += record.payload.length;
      out.push({
        topic: topic.name,
        position: record.offset,
        key: record.key,
        headers: record.headers,
        payload: record.payload,
        timestamp: record.timestamp,
      });
    }
    return out;
  }

  async close(): Promise<void> {
    const handle = this.handle;
    this.handle = undefined;
    this.segment = undefined;
    await handle?.close();
  }
}

export function topicDir(root: string, name: string): string {
  return path.join(root, 'topics', name);
}
