import type { JsMsg, OrderedConsumerOptions, StreamState } from '@nats-io/jetstream';
import type { Position, ReadFrom } from '../log.ts';
import type { Verdict } from './batch.ts';

export interface ReadStart {
  /** How the ordered consumer starts. */
  consumer: Partial<OrderedConsumerOptions>;
  /**
   * Messages below this sequence, or (for a time seek) received before this many nanoseconds
   * since the epoch, are skipped. An ordered consumer recreated before its first delivery starts
   * again from sequence 1, so the reader enforces the start itself as well.
   */
  fromSeq: number;
  notBeforeNanos: bigint | undefined;
}

function clampSequence(position: Position): number {
  if (position < 1n) return 1;
  if (position > BigInt(Number.MAX_SAFE_INTEGER)) return Number.MAX_SAFE_INTEGER;
  return Number(position);
}

function fromSequence(seq: number): ReadStart {
  return {
    consumer: { deliver_policy: 'by_start_sequence', opt_start_seq: seq },
    fromSeq: seq,
    notBeforeNanos: undefined,
  };
}

/** Where a read starts, given the stream's state when the read began ('latest' is after its last entry). */
export function readStart(from: ReadFrom, state: StreamState): ReadStart {
  if (from === 'earliest') return fromSequence(1);
  if (from === 'latest') return fromSequence(state.last_seq + 1);
  if (from instanceof Date) {
    return {
      consumer: { deliver_policy: 'by_start_time', opt_start_time: from.toISOString() },
      fromSeq: 1,
      notBeforeNanos: BigInt(from.getTime()) * 1_000_000n,
    };
  }
  if (typeof from === 'bigint') return fromSequence(clampSequence(from));
  return fromSequence(clampSequence(from.after + 1n));
}

/**
 * What a read does with each delivered message: skips those before its start, and, when it does
 * not follow, ends at `endSeq` (the last sequence when it began) or when the stream has nothing
 * past the message (`pending` 0), whichever comes first.
 */
export function judgeFrom(start: ReadStart, endSeq: number | undefined): (msg: JsMsg) => Verdict {
  let reachedTime = start.notBeforeNanos === undefined;
  return (msg) => {
    if (endSeq !== undefined && msg.seq > endSeq) return 'end';
    if (msg.seq < start.fromSeq) return 'skip';
    if (!reachedTime && start.notBeforeNanos !== undefined)
      reachedTime = msg.timestampNanos >= start.notBeforeNanos;
    if (!reachedTime) return 'skip';
    return endSeq !== undefined && (msg.seq >= endSeq || msg.info.pending === 0) ? 'last' : 'take';
  };
}
