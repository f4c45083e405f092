export { createNatsLog } from './nats-log.ts';
export type { NatsLogOptions } from './options.ts';
