export { createFileLog, type FileLogOptions } from './file-log.ts';
export type { DurableIO } from './fs-io.ts';
