import { RecordDecodeError } from '../errors.ts';
import { crc32c } from './crc32c.ts';

/**
 * One framed record on disk:
 *
 *   magic u8 (0xA7) | body length u32 LE | CRC-32C of body u32 LE | body
 *   body: offset u64 | timestamp ms f64 | key length i32 (-1: none) | key utf-8
 *         | headers length u32 | headers JSON utf-8 | payload length u32 | payload
 *
 * The offset inside the body lets recovery and readers check they are where they think they are.
 */
export const MAGIC = 0xa7;
export const FRAME_HEADER_BYTES = 9;
/** Records larger than this are refused on append and treated as damage on read. */
export const MAX_RECORD_BYTES = 64 * 1024 * 1024;

export interface StoredRecord {
  offset: bigint;
  timestamp: number;
  key: string | undefined;
  headers: Record<string, string>;
  payload: Uint8Array;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });
const EMPTY_HEADERS = '{}';

export function encodeRecord(record: StoredRecord): Buffer {
  const frames = new FrameBuffer(0);
  frames.add(record);
  return frames.bytes;
}

/**
 * Frames records one after the other into one buffer that is reused from round to round. Fresh
 * memory costs a page fault per 4 KiB on first touch, which on the development VM made framing a
 * 100 KiB entry take 0.8 ms instead of 0.15 (the checksum and the copy); a buffer already touched
 * costs neither. It grows to fit a round and drops back after an unusually large one.
 */
export class FrameBuffer {
  private buffer: Buffer;
  private used = 0;

  constructor(private readonly keepBytes = 1024 * 1024) {
    this.buffer = Buffer.allocUnsafeSlow(keepBytes);
  }

  /** The frames added since the last clear, a view valid until the next add or clear. */
  get bytes(): Buffer {
    return this.buffer.subarray(0, this.used);
  }

  /** Starts the next round (the bytes of the last one must no longer be in use). */
  clear(): void {
    this.used = 0;
    if (this.buffer.length > 8 * this.keepBytes) this.buffer = Buffer.allocUnsafeSlow(this.keepBytes);
  }

  /** Frames `record` after the frames already added; returns its size in bytes. */
  add(record: StoredRecord): number {
    const key = record.key === undefined ? undefined : encoder.encode(record.key);
    const headersJson =
      Object.keys(record.headers).length === 0 ? EMPTY_HEADERS : JSON.stringify(record.headers);
    const headers = encoder.encode(headersJson);
    const bodyLength = 8 + 8 + 4 + (key?.length ?? 0) + 4 + headers.length + 4 + record.payload.length;
    const size = FRAME_HEADER_BYTES + bodyLength;
    this.reserve(size);
    const frame = this.buffer.subarray(this.used, this.used + size);
    frame[0] = MAGIC;
    frame.writeUInt32LE(bodyLength, 1);
    let p = FRAME_HEADER_BYTES;
    frame.writeBigUInt64LE(record.offset, p);
    p += 8;
    frame.writeDoubleLE(record.timestamp, p);
    p += 8;
    frame.writeInt32LE(key ? key.length : -1, p);
    p += 4;
    if (key) {
      frame.set(key, p);
      p += key.length;
    }
    frame.writeUInt32LE(headers.length, p);
    p += 4;
    frame.set(headers, p);
    p += headers.length;
    frame.writeUInt32LE(record.payload.length, p);
    p += 4;
    frame.set(record.payload, p);
    frame.writeUInt32LE(crc32c(frame, FRAME_HEADER_BYTES, frame.length), 5);
    this.used += size;
    return size;
  }

  private reserve(bytes: number): void {
    const needed = this.used + bytes;
    if (needed <= this.buffer.length) return;
    const grown = Buffer.allocUnsafeSlow(Math.max(needed, 2 * this.buffer.length));
    this.buffer.copy(grown, 0, 0, this.used);
    this.buffer = grown;
  }
}

export type DecodeResult =
  | { kind: 'record'; record: StoredRecord; size: number }
  /** The buffer ends inside this frame: read more, or, at the end of a file, a torn tail. */
  | { kind: 'incomplete' };

/**
 * Decodes the frame at `at`. Returns 'incomplete' when the buffer ends before the frame does;
 * throws RecordDecodeError for anything malformed. Never reads outside the buffer.
 */
export function decodeRecord(buf: Buffer, at: number): DecodeResult {
  if (buf.length - at < FRAME_HEADER_BYTES) return { kind: 'incomplete' };
  if (buf[at] !== MAGIC) throw new RecordDecodeError(`bad magic byte 0x${buf[at]!.toString(16)}`);
  const bodyLength = buf.readUInt32LE(at + 1);
  if (bodyLength < 28 || bodyLength > MAX_RECORD_BYTES)
    throw new RecordDecodeError(`implausible record length ${bodyLength}`);
  const bodyStart = at + FRAME_HEADER_BYTES;
  const end = bodyStart + bodyLength;
  if (end > buf.length) return { kind: 'incomplete' };
  const expected = buf.readUInt32LE(at + 5);
  if (crc32c(buf, bodyStart, end) !== expected) throw new RecordDecodeError('checksum mismatch');
  let p = bodyStart;
  const offset = buf.readBigUInt64LE(p);
  p += 8;
  const timestamp = buf.readDoubleLE(p);
  p += 8;
  const keyLength = buf.readInt32LE(p);
  p += 4;
  if (keyLength < -1 || p + Math.max(keyLength, 0) + 4 > end) throw new RecordDecodeError('bad key length');
  let key: string | undefined;
  try {
    if (keyLength >= 0) {
      key = decoder.decode(buf.subarray(p, p + keyLength));
      p += keyLength;
    }
    const headersLength = buf.readUInt32LE(p);
    p += 4;
    if (p + headersLength + 4 > end) throw new RecordDecodeError('bad headers length');
    const headers = JSON.parse(decoder.decode(buf.subarray(p, p + headersLength))) as unknown;
    if (typeof headers !== 'object' || headers === null || Array.isArray(headers))
      throw new RecordDecodeError('headers are not an object');
    p += headersLength;
    const payloadLength = buf.readUInt32LE(p);
    p += 4;
    if (p + payloadLength !== end) throw new RecordDecodeError('bad payload length');
    // A view, not a copy: the buffer is the reader's own (read for this batch, never reused), and
    // whoever keeps a payload past the batch keeps that buffer with it.
    const payload = new Uint8Array(buf.buffer, buf.byteOffset + p, end - p);
    return {
      kind: 'record',
      record: { offset, timestamp, key, headers: headers as Record<string, string>, payload },
      size: end - at,
    };
  } catch (error) {
    if (error instanceof RecordDecodeError) throw error;
    throw new RecordDecodeError(`malformed record body: ${(error as Error).message}`);
  }
}
