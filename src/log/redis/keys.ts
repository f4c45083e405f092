/** Where one tierflow log lives in a Redis keyspace; a prefix lets several logs (or tests) share a server. */
export interface RedisLogKeys {
  topics: string;
  stream(topic: string): string;
  groups(topic: string): string;
  /** A dense stream's record: its last sequence `n` and last entry time `t`. */
  meta(topic: string): string;
}

export function redisLogKeys(prefix: string): RedisLogKeys {
  return {
    topics: `${prefix}:topics`,
    stream: (topic) => `${prefix}:topic:${topic}`,
    groups: (topic) => `${prefix}:groups:${topic}`,
    meta: (topic) => `${prefix}:meta:${topic}`,
  };
}
