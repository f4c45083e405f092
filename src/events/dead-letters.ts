import { UnknownTopicError } from '../log/errors.ts';
import type { Log, LogEntry, Position } from '../log/log.ts';
import type { Metrics } from '../observe/metrics.ts';
import { METRIC, noopMetrics } from '../observe/metrics.ts';
import type { RejectedEntryError } from './rejected-entry.ts';

/** Where every pipeline of a log puts the entries it cannot apply, with the reason. */
export const DEAD_LETTER_TOPIC = 'dead-letters';

/** Headers of a dead letter; the original entry's own headers follow, prefixed with `orig.`. */
const H = {
  topic: 'dlq.topic',
  position: 'dlq.position',
  pipeline: 'dlq.pipeline',
  code: 'dlq.code',
  reason: 'dlq.reason',
  at: 'dlq.at',
  /** On a marker entry: the dead letter it marks as replayed. */
  replayed: 'dlq.replayed',
} as const;
const ORIGINAL = 'orig.';
const MAX_REASON = 1_000;

export interface DeadLetter {
  /** The dead letter's own position in DEAD_LETTER_TOPIC. */
  position: Position;
  /** Where the entry came from. */
  topic: string;
  sourcePosition: Position;
  /** Which pipeline gave up on it: 'hot-processor', 'cold-consumer', 'cold-processor', … */
  pipeline: string;
  code: string;
  reason: string;
  at: Date;
  key: string | undefined;
  headers: Record<string, string>;
  payload: Uint8Array;
  /** Whether `tierflow dlq replay` has put it back on its topic. */
  replayed: boolean;
}

/**
 * The dead-letter topic of a log. A pipeline appends an entry it cannot apply here, durably,
 * before it moves past it, so nothing is dropped silently; an operator lists, reads and replays
 * them (`tierflow dlq`). The same entry may be dead-lettered more than once (by two pipelines of
 * one topic, or again after a crash before the pipeline's checkpoint moved): replay puts each
 * source entry back once.
 */
export class DeadLetters {
  constructor(
    private readonly log: Log,
    private readonly metrics: Metrics = noopMetrics,
  ) {}

  async send(pipeline: string, entry: LogEntry, rejection: RejectedEntryError): Promise<Position> {
    const headers: Record<string, string> = {
      [H.topic]: entry.topic,
      [H.position]: entry.position.toString(),
      [H.pipeline]: pipeline,
      [H.code]: rejection.reasonCode,
      // PostgreSQL's detail can quote the whole row: the reason stays small, the payload is the record.
      [H.reason]:
        rejection.message.length > MAX_REASON
          ? `${rejection.message.slice(0, MAX_REASON)}…`
          : rejection.message,
      [H.at]: new Date().toISOString(),
    };
    for (const [name, value] of Object.entries(entry.headers)) headers[ORIGINAL + name] = value;
    const [position] = await this.log.append(DEAD_LETTER_TOPIC, [
      { ...(entry.key === undefined ? {} : { key: entry.key }), headers, payload: entry.payload },
    ]);
    this.metrics.count(METRIC.deadLetters, { pipeline, topic: entry.topic, code: rejection.reasonCode });
    return position!;
  }

  /** Every dead letter, oldest first (none if the topic was never written). */
  async list(): Promise<DeadLetter[]> {
    const letters: DeadLetter[] = [];
    const replayed = new Set<Position>();
    try {
      for await (const batch of this.log.read(DEAD_LETTER_TOPIC, { from: 'earliest', follow: false }))
        for (const entry of batch) {
          const marks = entry.headers[H.replayed];
          if (marks !== undefined) for (const p of marks.split(',')) replayed.add(BigInt(p));
          else letters.push(letterOf(entry));
        }
    } catch (error) {
      if (error instanceof UnknownTopicError) return [];
      throw error;
    }
    for (const letter of letters) letter.replayed = replayed.has(letter.position);
    return letters;
  }

  /**
   * Appends each chosen letter's entry to its topic again, once per source entry, in dead-letter
   * order, with its original headers but `xid` (a stage 1 event reached a dead letter only after
   * its transaction was found committed), then marks the letters replayed. The entry becomes a new
   * change at a new position: it wins over changes of the same keys written since.
   */
  async replay(letters: readonly DeadLetter[]): Promise<{ appended: number; marked: number }> {
    const seen = new Set<string>();
    let appended = 0;
    for (const letter of letters) {
      const source = `${letter.topic}@${letter.sourcePosition}`;
      if (seen.has(source)) continue;
      seen.add(source);
      const { xid: _xid, ...headers } = letter.headers;
      await this.log.append(letter.topic, [
        { ...(letter.key === undefined ? {} : { key: letter.key }), headers, payload: letter.payload },
      ]);
      appended++;
    }
    if (letters.length > 0)
      await this.log.append(DEAD_LETTER_TOPIC, [
        {
          headers: { [H.replayed]: letters.map((l) => l.position.toString()).join(',') },
          payload: new Uint8Array(0),
        },
      ]);
    return { appended, marked: letters.length };
  }
}

function letterOf(entry: LogEntry): DeadLetter {
  const h = entry.headers;
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(h))
    if (name.startsWith(ORIGINAL)) headers[name.slice(ORIGINAL.length)] = value;
  return {
    position: entry.position,
    topic: h[H.topic] ?? '',
    sourcePosition: BigInt(h[H.position] ?? '-1'),
    pipeline: h[H.pipeline] ?? '',
    code: h[H.code] ?? '',
    reason: h[H.reason] ?? '',
    at: new Date(h[H.at] ?? entry.timestamp),
    key: entry.key,
    headers,
    payload: entry.payload,
    replayed: false,
  };
}
