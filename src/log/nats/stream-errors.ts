import { TierflowError } from '../../core/index.ts';

/**
 * A topic's stream is not the one its positions were taken from: it was deleted (and perhaps
 * created again, numbering from 1). Every entry the old stream held is gone, and a group resuming
 * from its committed position would skip the new stream's entries up to that position. Nothing
 * is read, committed or trimmed on the topic until an operator decides (docs/log-nats.md).
 */
export class StreamRecreatedError extends TierflowError {
  readonly topic: string;
  constructor(topic: string, detail: string) {
    super(
      'LOG_STREAM_RECREATED',
      `the stream of topic "${topic}" was deleted since its positions were taken: ${detail}`,
    );
    this.topic = topic;
  }
}

/** A topic's stream exists with settings under which tierflow's guarantees do not hold. */
export class StreamSettingsError extends TierflowError {
  readonly topic: string;
  readonly problems: readonly string[];
  constructor(topic: string, stream: string, problems: readonly string[]) {
    super(
      'LOG_STREAM_SETTINGS',
      `stream ${stream} of topic "${topic}" has unsafe settings: ${problems.join('; ')} (fix them with \`nats stream edit\` or delete the stream while it is empty)`,
    );
    this.topic = topic;
    this.problems = problems;
  }
}
