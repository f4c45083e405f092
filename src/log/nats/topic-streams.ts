import type { JetStreamManager, StreamConfig, StreamInfo } from '@nats-io/jetstream';
import { JetStreamApiError } from '@nats-io/jetstream';
import { nanos } from '@nats-io/transport-node';
import { UnknownTopicError } from '../errors.ts';
import type { NatsNames } from './names.ts';
import { isStreamNotFound } from './nats-errors.ts';
import { unsafeSettings } from './stream-check.ts';
import { StreamRecreatedError, StreamSettingsError } from './stream-errors.ts';

/** The server answers this when a stream exists under the name with another configuration. */
const STREAM_NAME_IN_USE = 10058;
/** How long the stream remembers a Nats-Msg-Id, so a retried publish is stored once. */
export const DUPLICATE_WINDOW_MS = 2 * 60 * 1000;

export interface StreamSettings {
  replicas: number;
  storage: 'file' | 'memory';
}

/** Why a stream check failed: the label of log_stream_check_failures_total. */
export type StreamCheckFailure = 'recreated' | 'settings';

/**
 * One JetStream stream per topic: created on first append, looked up for everything else. Every
 * look-up checks the stream: its settings (nothing that drops or refuses entries behind the
 * log's back) and its creation time, which must stay the one this process first saw; a stream
 * deleted and created again numbers from 1, so positions taken from the old one would skip
 * entries of the new one.
 */
export class TopicStreams {
  /** Topics whose stream this process created or saw; a rejected creation is forgotten. */
  private readonly ensured = new Map<string, Promise<void>>();
  /** The creation time of each topic's stream when this process first saw it. */
  private readonly created = new Map<string, string>();

  constructor(
    private readonly jsm: JetStreamManager,
    private readonly names: NatsNames,
    private readonly settings: StreamSettings,
    private readonly onCheckFailure: (topic: string, reason: StreamCheckFailure) => void = () => {},
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
    const seen = this.created.get(topic);
    if (seen !== undefined) {
      // This process used the topic's stream; an append found nobody listening. Unless the
      // stream is back (a leader election), it was deleted: creating it again would start the
      // positions over, so refuse.
      try {
        await this.info(topic);
        return;
      } catch (error) {
        if (!(error instanceof UnknownTopicError)) throw error;
      }
      throw this.lost(topic);
    }
    try {
      // Adding a stream that exists with the same configuration succeeds, so two processes (or
      // two logs) creating it at once both succeed.
      this.observe(topic, await this.jsm.streams.add(this.config(topic)));
    } catch (error) {
      // It exists with another configuration: usable if nothing in it endangers the entries.
      if (error instanceof JetStreamApiError && error.code === STREAM_NAME_IN_USE) {
        await this.info(topic);
        return;
      }
      throw error;
    }
  }

  async info(topic: string): Promise<StreamInfo> {
    let info: StreamInfo;
    try {
      info = await this.jsm.streams.info(this.names.stream(topic));
    } catch (error) {
      if (isStreamNotFound(error)) throw new UnknownTopicError(topic);
      throw error;
    }
    this.observe(topic, info);
    return info;
  }

  /**
   * After a publish found nobody listening: the error (counted) if the topic's stream, which
   * this process used, no longer exists; undefined if it does or cannot be looked up now.
   */
  async lostStream(topic: string): Promise<StreamRecreatedError | undefined> {
    if (!this.created.has(topic)) return undefined;
    try {
      await this.info(topic);
      return undefined;
    } catch (error) {
      if (error instanceof UnknownTopicError) return this.lost(topic);
      if (error instanceof StreamRecreatedError) return error;
      return undefined;
    }
  }

  /** The error (counted) for a stream this process used that is gone. */
  lost(topic: string): StreamRecreatedError {
    this.onCheckFailure(topic, 'recreated');
    return new StreamRecreatedError(topic, `the stream created at ${this.created.get(topic) ?? '?'} is gone`);
  }

  /** Checks a stream's settings and that it is still the stream this process first saw. */
  private observe(topic: string, info: StreamInfo): void {
    const problems = unsafeSettings(info.config, this.config(topic));
    if (problems.length > 0) {
      this.onCheckFailure(topic, 'settings');
      throw new StreamSettingsError(topic, info.config.name, problems);
    }
    const seen = this.created.get(topic);
    if (seen === undefined) this.created.set(topic, info.created);
    else if (seen !== info.created) {
      this.onCheckFailure(topic, 'recreated');
      throw new StreamRecreatedError(
        topic,
        `it was created at ${seen} when this process first used it, and now at ${info.created}`,
      );
    }
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
