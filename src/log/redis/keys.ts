/** Where one tierflow log lives in a Redis keyspace; a prefix lets several logs (or tests) share a server. */
export interface RedisLogKeys {
  topics: string;
  stream(topic: string): string;
  groups(topic: string): string;
}

export function redisLogKeys(prefix: string): RedisLogKeys {
  return {
    topics: `${prefix}:topics`,
    stream: (topic) => `${prefix}:topic:${topic}`,
    groups: (topic) => `${prefix}:groups:${topic}`,
  };
}
