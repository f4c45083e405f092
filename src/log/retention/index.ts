export type { RetentionSettings } from './config.ts';
export {
  DEFAULT_RETENTION_AGE_MS,
  DEFAULT_RETENTION_INTERVAL_MS,
  RETENTION_ENV,
  resolveRetention,
} from './config.ts';
export { RetentionError } from './errors.ts';
export { parseBytes, parseDuration } from './parse.ts';
export type { RetentionOptions, RetentionRunner, RetentionStatus, TopicPass } from './scheduler.ts';
export { startRetention } from './scheduler.ts';
