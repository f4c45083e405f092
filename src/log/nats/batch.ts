import type { JsMsg } from '@nats-io/jetstream';
import type { LogEntry } from '../log.ts';
import type { MessagePump } from './message-pump.ts';
import { STOPPED } from './message-pump.ts';

/** What a read does with a message: take it, take it as its last, skip it, or end before it. */
export type Verdict = 'take' | 'last' | 'skip' | 'end';

/**
 * Forms one batch from `first` and whatever has already arrived after it, within the bounds. A
 * batch always holds at least one entry, however large; an entry that would push a batch past
 * maxBytes waits for the next one. Bytes are payload bytes.
 */
export async function takeBatch(
  pump: MessagePump,
  first: JsMsg,
  judge: (msg: JsMsg) => Verdict,
  decode: (msg: JsMsg) => LogEntry,
  bounds: { maxEntries: number; maxBytes: number },
): Promise<{ batch: LogEntry[]; last: boolean }> {
  const batch: LogEntry[] = [];
  let bytes = 0;
  for (let msg: JsMsg = first; ;) {
    const verdict = judge(msg);
    if (verdict === 'end') return { batch, last: true };
    if (verdict !== 'skip') {
      const entry = decode(msg);
      if (batch.length > 0 && bytes + entry.payload.byteLength > bounds.maxBytes) {
        pump.hold(msg);
        return { batch, last: false };
      }
      batch.push(entry);
      bytes += entry.payload.byteLength;
      if (verdict === 'last') return { batch, last: true };
      if (batch.length >= bounds.maxEntries || bytes >= bounds.maxBytes) return { batch, last: false };
    }
    const next = await pump.ready();
    if (next === STOPPED) return { batch, last: true };
    if (next === undefined) return { batch, last: false };
    msg = next;
  }
}
