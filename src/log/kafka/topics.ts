import type { Admin } from '@platformatic/kafka';
import { UnknownTopicError } from '../errors.ts';
import { isUnknownTopic, kafkaErrorName, unavailable } from './kafka-errors.ts';
import type { ResolvedKafkaLogOptions } from './options.ts';

export interface PartitionInfo {
  partition: number;
  leader: number;
  leaderEpoch: number;
}

export interface TopicInfo {
  /** The topic's id: a topic deleted and created again under the same name gets a new one. */
  id: string;
  partitions: PartitionInfo[];
}

/**
 * Settings of the topics the log creates. Time and size retention are off: tierflow's own
 * retention (applyRetention) drops entries, and never one a registered group has not committed,
 * which Kafka's retention.ms and retention.bytes know nothing about (docs/log-kafka.md). The broker
 * stamps each entry with the time it took it, so a seek by time finds what was appended then.
 */
export const TOPIC_CONFIGS = [
  { name: 'message.timestamp.type', value: 'LogAppendTime' },
  { name: 'retention.ms', value: '-1' },
  { name: 'retention.bytes', value: '-1' },
  { name: 'cleanup.policy', value: 'delete' },
  { name: 'max.message.bytes', value: String(16 * 1024 * 1024) },
];

/** Kafka topic names of tierflow topics (with the log's prefix), and what this process knows of them. */
export class KafkaTopics {
  private readonly known = new Map<string, TopicInfo>();
  /** When each topic was last described: appends look again after options.metadataRefreshMs. */
  private readonly describedAt = new Map<string, number>();
  private readonly creating = new Map<string, Promise<TopicInfo>>();

  constructor(
    private readonly admin: Admin,
    private readonly options: ResolvedKafkaLogOptions,
  ) {}

  name(topic: string): string {
    return `${this.options.prefix}${topic}`;
  }

  /** The topic as the broker describes it; UnknownTopicError if it does not exist. */
  async info(topic: string, refresh = false): Promise<TopicInfo> {
    const cached = this.known.get(topic);
    if (cached && !refresh) return cached;
    const name = this.name(topic);
    let metadata;
    try {
      metadata = await this.admin.metadata({ topics: [name], forceUpdate: true });
    } catch (error) {
      if (isUnknownTopic(error)) {
        this.known.delete(topic);
        throw new UnknownTopicError(topic);
      }
      throw unavailable(`describing topic "${topic}" failed`, error);
    }
    const described = metadata.topics.get(name);
    if (!described) throw new UnknownTopicError(topic);
    const info: TopicInfo = {
      id: described.id,
      partitions: described.partitions.map((p, partition) => ({
        partition,
        leader: p.leader,
        leaderEpoch: p.leaderEpoch,
      })),
    };
    this.known.set(topic, info);
    this.describedAt.set(topic, Date.now());
    return info;
  }

  /** The topic, created (with TOPIC_CONFIGS) if it does not exist yet. */
  async ensure(topic: string): Promise<TopicInfo> {
    const cached = this.known.get(topic);
    // Described again now and then, so a change under the appender (partitions added, the topic
    // recreated) is seen within metadataRefreshMs even while every append succeeds.
    if (cached && Date.now() - (this.describedAt.get(topic) ?? 0) < this.options.metadataRefreshMs)
      return cached;
    let pending = this.creating.get(topic);
    if (!pending) {
      pending = this.create(topic).finally(() => this.creating.delete(topic));
      this.creating.set(topic, pending);
    }
    return pending;
  }

  forget(topic: string): void {
    this.known.delete(topic);
  }

  async list(): Promise<string[]> {
    let names: string[];
    try {
      names = await this.admin.listTopics();
    } catch (error) {
      throw unavailable('listing topics failed', error);
    }
    const prefix = this.options.prefix;
    return names
      .filter((name) => name.startsWith(prefix) && !name.startsWith('__'))
      .map((name) => name.slice(prefix.length))
      .sort();
  }

  private async create(topic: string): Promise<TopicInfo> {
    try {
      return await this.info(topic, true);
    } catch (error) {
      if (!(error instanceof UnknownTopicError)) throw error;
    }
    try {
      await this.admin.createTopics({
        topics: [this.name(topic)],
        partitions: this.options.partitions,
        replicas: this.options.replicas,
        configs: TOPIC_CONFIGS,
      });
    } catch (error) {
      // Another process created it first: use theirs.
      if (!kafkaErrorName(error, 'TOPIC_ALREADY_EXISTS'))
        throw unavailable(`creating topic "${topic}" failed`, error);
    }
    // The controller has the topic; its leader may take a moment to be known to every broker.
    for (let attempt = 0; ; attempt++) {
      try {
        const info = await this.info(topic, true);
        if (info.partitions.every((p) => p.leader >= 0)) return info;
      } catch (error) {
        if (!(error instanceof UnknownTopicError) || attempt >= 50) throw error;
      }
      if (attempt >= 50)
        throw unavailable(`topic "${topic}" has no leader`, new Error('no leader after 5 s'));
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}
