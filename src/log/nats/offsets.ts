import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import { JetStreamApiError } from '@nats-io/jetstream';
import { nanos } from '@nats-io/transport-node';
import { RecordDecodeError } from '../errors.ts';
import type { Position } from '../log.ts';
import type { NatsNames } from './names.ts';
import { isStreamNotFound } from './nats-errors.ts';
import { sequenceOf } from './sequence.ts';
import type { StreamSettings } from './topic-streams.ts';
import { DUPLICATE_WINDOW_MS } from './topic-streams.ts';

const STREAM_NAME_IN_USE = 10058;

/**
 * Committed positions, one small message per (group, topic) in a stream laid out as a JetStream
 * KV bucket (`<prefix>_offsets`, key `<group>.<topic>`, history 1), written and read with plain
 * stream calls because the KV client is not a dependency. Each commit is one publish the
 * server acknowledges once stored, like an append; the bucket keeps only the latest per key.
 */
export class GroupOffsets {
  private created: Promise<void> | undefined;

  constructor(
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private readonly names: NatsNames,
    private readonly settings: StreamSettings,
  ) {}

  private ensureBucket(): Promise<void> {
    this.created ??= (async () => {
      const bucket = this.names.offsetsBucket;
      try {
        await this.jsm.streams.add({
          name: this.names.offsetsStream,
          subjects: [`$KV.${bucket}.>`],
          description: `tierflow committed positions (prefix ${this.names.prefix})`,
          retention: 'limits',
          storage: this.settings.storage,
          num_replicas: this.settings.replicas,
          max_msgs_per_subject: 1,
          discard: 'new',
          allow_rollup_hdrs: true,
          deny_delete: true,
          allow_direct: true,
          duplicate_window: nanos(DUPLICATE_WINDOW_MS),
        });
      } catch (error) {
        if (!(error instanceof JetStreamApiError && error.code === STREAM_NAME_IN_USE)) throw error;
      }
    })();
    void this.created.catch(() => (this.created = undefined));
    return this.created;
  }

  /**
   * Stores the position with the creation time of the stream it was taken from (`<seq> <time>`),
   * so a reader of the commit can tell whether the stream is still that one.
   */
  async commit(group: string, topic: string, position: Position, streamCreated: string): Promise<void> {
    const value = `${sequenceOf(position)} ${streamCreated}`;
    await this.ensureBucket();
    await this.js.publish(this.names.offsetsSubject(group, topic), new TextEncoder().encode(value));
  }

  async committed(group: string, topic: string): Promise<StoredPosition | undefined> {
    return this.read(this.names.offsetsSubject(group, topic));
  }

  private async read(subject: string): Promise<StoredPosition | undefined> {
    try {
      const msg = await this.jsm.streams.getMessage(this.names.offsetsStream, { last_by_subj: subject });
      if (msg === null) return undefined;
      // `nats kv del` (an operator resetting a group) leaves a marker: the group has no position.
      const operation = msg.header?.get('KV-Operation');
      if (operation === 'DEL' || operation === 'PURGE') return undefined;
      const text = msg.string();
      // Commits before streams were stamped hold the sequence alone.
      const parsed = /^(\d+)(?: (\S+))?$/.exec(text);
      if (!parsed) throw new RecordDecodeError(`${subject} holds "${text}", not a position`);
      return { subject, position: BigInt(parsed[1]!), streamCreated: parsed[2] };
    } catch (error) {
      if (isStreamNotFound(error)) return undefined; // no group has committed yet
      throw error;
    }
  }

  /** Every group's committed position on the topic. */
  async all(topic: string): Promise<StoredPosition[]> {
    let subjects: Record<string, number>;
    try {
      const info = await this.jsm.streams.info(this.names.offsetsStream, {
        subjects_filter: this.names.offsetsOfTopic(topic),
      });
      subjects = info.state.subjects ?? {};
    } catch (error) {
      if (isStreamNotFound(error)) return [];
      throw error;
    }
    const found: StoredPosition[] = [];
    for (const subject of Object.keys(subjects)) {
      const stored = await this.read(subject);
      if (stored !== undefined) found.push(stored);
    }
    return found;
  }
}

export interface StoredPosition {
  /** Where it is stored (`$KV.<bucket>.<group>.<topic>`), for messages. */
  subject: string;
  position: Position;
  /** When the stream the position was taken from was created; undefined for an unstamped commit. */
  streamCreated: string | undefined;
}
