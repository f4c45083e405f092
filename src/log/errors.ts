import { TierflowError } from '../core/index.ts';

export class UnknownTopicError extends TierflowError {
  readonly topic: string;
  constructor(topic: string) {
    super('LOG_UNKNOWN_TOPIC', `unknown topic "${topic}"`);
    this.topic = topic;
  }
}

export class InvalidTopicError extends TierflowError {
  constructor(topic: string) {
    super('LOG_INVALID_TOPIC', `"${topic}" is not a valid topic name (letters, digits, . _ -, at most 200)`);
  }
}

/** The log cannot take appends any more (a failed fsync, a full disk); reads still work. */
export class LogUnavailableError extends TierflowError {
  constructor(message: string, options: { retriable: boolean; cause?: unknown }) {
    super('LOG_UNAVAILABLE', message, options);
  }
}

/** Stored data failed its checksum somewhere other than an unfinished tail. */
export class LogCorruptionError extends TierflowError {
  readonly file: string;
  readonly byteOffset: number;
  constructor(file: string, byteOffset: number, reason: string) {
    super('LOG_CORRUPTION', `${file} is corrupt at byte ${byteOffset}: ${reason}`);
    this.file = file;
    this.byteOffset = byteOffset;
  }
}

export class LogClosedError extends TierflowError {
  constructor() {
    super('LOG_CLOSED', 'the log is closed');
  }
}

/** A record that cannot be decoded: too short, a bad length, a bad checksum. */
export class RecordDecodeError extends TierflowError {
  constructor(reason: string) {
    super('LOG_RECORD_DECODE', reason);
  }
}

/** A group member does not own the partition it commits for (any more): the group gave it away. */
export class PartitionNotOwnedError extends TierflowError {
  constructor(group: string, topic: string, partition: number) {
    super(
      'LOG_PARTITION_NOT_OWNED',
      `group "${group}": this member does not own partition ${partition} of "${topic}" now`,
    );
  }
}
