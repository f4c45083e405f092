import type { FileHandle } from 'node:fs/promises';
import { open, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { LogCorruptionError, RecordDecodeError } from '../errors.ts';
import { writeFileAtomic } from '../../core/durable-fs.ts';
import { FRAME_HEADER_BYTES, MAGIC, decodeRecord } from './record.ts';

/** A sparse index point every this many bytes: a lookup scans at most this much. */
export const INDEX_INTERVAL_BYTES = 64 * 1024;

export interface IndexPoint {
  offset: bigint;
  position: number;
  timestamp: number;
}

/**
 * One segment file `<base offset>.log` of a topic, with its sparse offset/time index in memory.
 * `size` and `nextOffset` describe durable data only: readers never go past them.
 */
export class Segment {
  size = 0;
  nextOffset: bigint;
  index: IndexPoint[] = [];
  firstTimestamp: number | undefined;
  lastTimestamp: number | undefined;
  sealed = false;
  private lastIndexedPosition = -INDEX_INTERVAL_BYTES;

  constructor(
    readonly dir: string,
    readonly baseOffset: bigint,
  ) {
    this.nextOffset = baseOffset;
  }

  get file(): string {
    return path.join(this.dir, segmentName(this.baseOffset));
  }

  get indexFile(): string {
    return this.file.replace(/\.log$/, '.index');
  }

  get entries(): number {
    return Number(this.nextOffset - this.baseOffset);
  }

  /** Accounts for a durable record at `position` (bytes `size`). */
  noteRecord(offset: bigint, position: number, size: number, timestamp: number): void {
    if (position - this.lastIndexedPosition >= INDEX_INTERVAL_BYTES) {
      this.index.push({ offset, position, timestamp });
      this.lastIndexedPosition = position;
    }
    this.firstTimestamp ??= timestamp;
    this.lastTimestamp = timestamp;
    this.size = position + size;
    this.nextOffset = offset + 1n;
  }

  /** The index point at or before `offset`. */
  seekOffset(offset: bigint): IndexPoint {
    return (
      floorPoint(this.index, (p) => p.offset <= offset) ?? {
        offset: this.baseOffset,
        position: 0,
        timestamp: 0,
      }
    );
  }

  /** The index point at or before the first entry with timestamp ≥ `ms`. */
  seekTime(ms: number): IndexPoint {
    return (
      floorPoint(this.index, (p) => p.timestamp < ms) ?? {
        offset: this.baseOffset,
        position: 0,
        timestamp: 0,
      }
    );
  }

  /** Writes the index of a sealed segment beside it, atomically. */
  async writeIndex(): Promise<void> {
    const meta = {
      nextOffset: String(this.nextOffset),
      size: this.size,
      firstTimestamp: this.firstTimestamp ?? null,
      lastTimestamp: this.lastTimestamp ?? null,
      points: this.index.map((p) => [String(p.offset), p.position, p.timestamp]),
    };
    await writeFileAtomic(this.indexFile, JSON.stringify(meta));
  }

  /** Loads a sealed segment's index; false when it is missing or does not match the file. */
  async loadIndex(): Promise<boolean> {
    let meta: {
      nextOffset: string;
      size: number;
      firstTimestamp: number | null;
      lastTimestamp: number | null;
      points: [string, number, number][];
    };
    try {
      meta = JSON.parse(await readFile(this.indexFile, 'utf8')) as typeof meta;
      const { size } = await stat(this.file);
      if (size !== meta.size) return false;
    } catch {
      return false;
    }
    this.size = meta.size;
    this.nextOffset = BigInt(meta.nextOffset);
    this.firstTimestamp = meta.firstTimestamp ?? undefined;
    this.lastTimestamp = meta.lastTimestamp ?? undefined;
    this.index = meta.points.map(([offset, position, timestamp]) => ({
      offset: BigInt(offset),
      position,
      timestamp,
    }));
    this.sealed = true;
    return true;
  }

  /**
   * Rebuilds the in-memory state by reading every record. For the last segment of a topic a
   * damaged tail — an append cut short by a crash — is reported by `tornAt`, for the caller to
   * truncate; damage followed by valid records is corruption, never skipped.
   */
  async scan(isTail: boolean): Promise<{ tornAt?: number }> {
    const data = await readFile(this.file);
    let position = 0;
    let expected = this.baseOffset;
    while (position < data.length) {
      let result;
      let problem: string | undefined;
      try {
        result = decodeRecord(data, position);
      } catch (error) {
        if (!(error instanceof RecordDecodeError)) throw error;
        problem = error.message;
      }
      if (result?.kind === 'record') {
        if (result.record.offset !== expected) {
          throw new LogCorruptionError(
            this.file,
            position,
            `found offset ${result.record.offset}, expected ${expected}`,
          );
        }
        this.noteRecord(expected, position, result.size, result.record.timestamp);
        expected++;
        position += result.size;
        continue;
      }
      // Damage is a torn tail (the unfinished write of a crash) only if no intact record of
      // this or a later offset follows it; a record-like run of bytes inside a payload carries
      // some earlier offset and does not count.
      if (isTail && !hasValidRecordAfter(data, position + 1, expected)) return { tornAt: position };
      throw new LogCorruptionError(this.file, position, problem ?? 'the file ends inside a record');
    }
    return {};
  }

  async openForAppend(): Promise<FileHandle> {
    return open(this.file, 'r+');
  }
}

export function segmentName(baseOffset: bigint): string {
  return `${String(baseOffset).padStart(20, '0')}.log`;
}

export function parseSegmentName(name: string): bigint | undefined {
  const m = /^(\d{20})\.log$/.exec(name);
  return m ? BigInt(m[1]!) : undefined;
}

/** True if any complete, checksummed record starts at or after `from`: then the damage is not a torn tail. */
function hasValidRecordAfter(data: Buffer, from: number, expectedOffset: bigint): boolean {
  for (
    let p = data.indexOf(MAGIC, from);
    p !== -1 && p + FRAME_HEADER_BYTES <= data.length;
    p = data.indexOf(MAGIC, p + 1)
  ) {
    try {
      const result = decodeRecord(data, p);
      if (result.kind === 'record' && result.record.offset >= expectedOffset) return true;
    } catch {
      // not a record boundary; keep looking
    }
  }
  return false;
}

function floorPoint(
  points: readonly IndexPoint[],
  before: (p: IndexPoint) => boolean,
): IndexPoint | undefined {
  let lo = 0;
  let hi = points.length - 1;
  let found: IndexPoint | undefined;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const p = points[mid]!;
    if (before(p)) {
      found = p;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return found;
}
