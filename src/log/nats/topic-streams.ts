import type { JetStreamManager, StreamConfig, StreamInfo } from '@nats-io/jetstream';
import { JetStreamApiError } from '@nats-io/jetstream';
import { nanos } from '@nats-io/transport-node';
import { UnknownTopicError } from '../errors.ts';
import type { NatsNames } from './names.ts';
import { isStreamNotFound } from './nats-errors.ts';

/** The server answers this when a stream exists under the name with another configuration. */
const STREAM_NAME_IN_USE = 10058;
/** How long the stream remembers a Nats-Msg-Id, so a retried publish is stored once. */
export const DUPLICATE_WINDOW_MS = 2 * 60 * 1000;

export interface StreamSettings {
  replicas: number;
  storage: 'file' | 'memory';
}

/** One JetStream stream per topic: created on first append, looked up for everything else. */
export class TopicStreams {
  /** Topics whose stream this process created or saw; a rejected creation is forgotten. */
  private readonly ensured = new Map<string, Promise<void>>();

  constructor(
    private readonly jsm: JetStreamManager,
    private readonly names: NatsNames,
    private readonly settings: StreamSettings,
  ) {}

  config(topic: string): Partial<StreamConfig> & { name: string } {
    return {
      name: this.names.stream(topic),
      subjects: [this.names.subject(topic)],
      description: this.names.description(topic),
      retention: 'limits',
      storage: this.settings.storage,
      num_replicas: this.settings.replicas,
      discard: 'old',
      max_msgs: -1,
      max_bytes: -1,
      max_age: 0,
      duplicate_window: nanos(DUPLICATE_WINDOW_MS),
    };
  }

  /** Creates the topic's stream unless it exists; concurrent callers share one attempt. */
  ensure(topic: string): Promise<void> {
    let pending = this.ensured.get(topic);
    if (!pending) {
      pending = this.create(topic);
      this.ensured.set(topic, pending);
      void pending.catch(() => this.ensured.delete(topic));
    }
    return pending;
  }

  /** After a publish found nobody listening: the stream was deleted, so the next append recreates it. */
  forget(topic: string): void {
    this.ensured.delete(topic);
  }

  private async create(topic: string): Promise<void> {
    try {
      // Adding a stream that exists with the same configuration succeeds, so two processes (or
      // two logs) creating it at once both succeed.
      await this.jsm.streams.add(this.config(topic));
    } catch (error) {
      // Created by someone with other settings (replicas, storage): use it as it is.
      if (error instanceof JetStreamApiError && error.code === STREAM_NAME_IN_USE) return;
      throw error;
    }
  }

  async info(topic: string): Promise<StreamInfo> {
    try {
      return await this.jsm.streams.info(this.names.stream(topic));
    } catch (error) {
      if (isStreamNotFound(error)) throw new UnknownTopicError(topic);
      throw error;
    }
  }

  /** Throws UnknownTopicError unless the topic's stream exists. */
  async mustExist(topic: string): Promise<void> {
    await this.info(topic);
  }

  async topics(): Promise<string[]> {
    const found: string[] = [];
    // The server lists only streams whose subjects fall under the prefix.
    for await (const info of this.jsm.streams.list(`${this.names.prefix}.*`)) {
      const topic = this.names.topicOf({
        name: info.config.name,
        subjects: info.config.subjects ?? [],
        description: info.config.description,
      });
      if (topic !== undefined) found.push(topic);
    }
    return found.sort();
  }
}
