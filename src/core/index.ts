export * from './errors.ts';
export * from './column.ts';
export * from './dataset.ts';
export * from './validate.ts';
export * from './decimal.ts';
export * from './time.ts';
export * from './arrow-schema.ts';
export * from './storage-writer.ts';
