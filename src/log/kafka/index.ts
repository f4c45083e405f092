export { createKafkaLog } from './kafka-log.ts';
export type { KafkaLogOptions } from './options.ts';
export { parseKafkaSpec } from './options.ts';
export { dropKafkaPrefix } from './drop-prefix.ts';
