import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, inject } from 'vitest';
import type { Tierflow, TierflowConfig } from '../../src/index.ts';
import { createTierflow } from '../../src/index.ts';
import { ident } from '../../src/hot/sql.ts';

/**
 * A tierflow instance in a schema of its own for one test file, dropped afterwards. The getter
 * throws if used before beforeAll ran.
 */
export function useTierflow(config: TierflowConfig = {}): {
  readonly tf: Tierflow;
  readonly schema: string;
  readonly url: string;
} {
  const schema = `t_${randomBytes(5).toString('hex')}`;
  const url = inject('databaseUrl');
  let instance: Tierflow | undefined;
  beforeAll(async () => {
    instance = await createTierflow({ databaseUrl: url, schema, ...config });
  });
  afterAll(async () => {
    await instance?.close();
    await dropSchema(url, schema);
  });
  return {
    get tf() {
      if (!instance) throw new Error('useTierflow: not started yet');
      return instance;
    },
    schema,
    url,
  };
}

export async function dropSchema(url: string, schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS ${ident(schema)} CASCADE`);
  } finally {
    await client.end();
  }
}
