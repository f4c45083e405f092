export { createRedisLog, redisTopicNumbering } from './redis-log.ts';
export type { TopicNumbering } from './topic-numbering.ts';
export type { RedisLogOptions } from './redis-log.ts';
export type { WaitAofOptions } from './wait-aof.ts';
export { StreamIdRangeError, UnexpectedReplyError } from './errors.ts';
export { DENSE_LIMIT, positionFromStreamId, streamIdFromPosition } from './stream-id.ts';
export { dropRedisPrefix } from './drop-prefix.ts';
