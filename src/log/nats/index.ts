export { createNatsLog } from './nats-log.ts';
export type { NatsLogOptions } from './options.ts';
export { dropNatsPrefix } from './drop-prefix.ts';
