import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { createPool } from '../../src/hot/pool.ts';
import { ensureStage1Schema } from '../../src/pipeline/stage1-schema.ts';
import { ensureCheckpoints } from '../../src/wal/checkpoints.ts';
import { dropSchema } from '../support/hot.ts';

describe("a schema's DDL from processes starting at once", () => {
  const url = inject('databaseUrl');
  const schemas: string[] = [];
  const pool = createPool(url, { max: 12 });
  afterAll(async () => {
    await pool.end();
    for (const schema of schemas) await dropSchema(url, schema);
  });

  it('creates the stage tables once, whoever comes first, with no duplicate-type error for the others', async () => {
    for (let round = 0; round < 3; round++) {
      const schema = `t_ddl_${randomBytes(4).toString('hex')}`;
      schemas.push(schema);
      const results = await Promise.allSettled(
        Array.from({ length: 4 }, () => [
          ensureCheckpoints(pool, schema),
          ensureStage1Schema(pool, schema),
        ]).flat(),
      );
      expect(results.filter((r) => r.status === 'rejected')).toEqual([]);
      const { rows } = await pool.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM information_schema.tables WHERE table_schema = $1`,
        [schema],
      );
      expect(rows[0]!.n).toBeGreaterThanOrEqual(4);
    }
  });
});
