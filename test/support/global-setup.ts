import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { openDatabase } from '../../src/hot/database.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    databaseUrl: string;
  }
}

/**
 * One PostgreSQL for the whole run: $DATABASE_URL when set (CI sets it to the machine's
 * PostgreSQL 15), else the embedded server under .tierflow/test, started here and stopped after.
 */
export default async function setup(project: TestProject) {
  const database = await openDatabase({
    url: process.env.DATABASE_URL || undefined,
    dataDir: path.resolve('.tierflow/test'),
  });
  project.provide('databaseUrl', database.url);
  return () => database.release();
}
