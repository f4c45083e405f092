import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { dropSchema } from '../support/hot.ts';

describe('tierflow demo', () => {
  const schema = `demo_${process.pid}`;
  const url = inject('databaseUrl');
  afterAll(() => dropSchema(url, schema));

  it('runs stage 1 end to end and ends with a clean reconciliation', async () => {
    const dataDir = await mkdtemp(path.join(tmpdir(), 'tierflow-demo-'));
    try {
      const result = spawnSync(
        process.execPath,
        [
          'bin/tierflow.js',
          '--database-url',
          url,
          '--data-dir',
          dataDir,
          '--schema',
          schema,
          'demo',
          '--symbols',
          '3',
          '--minutes',
          '15',
          '--metrics-port',
          '0',
        ],
        { encoding: 'utf8' },
      );
      expect(result.stderr).toBe('');
      expect(result.status).toBe(0);
      expect(result.stdout).toMatch(/trades\s+[\d,]+\s+[\d,]+\s+[\d,]+\s+clean/);
      expect(result.stdout).toContain('reconciliation: clean');
      const table = result.stdout
        .split('\n')
        .filter((l) => /^\w+\s+[\d,]+\s+[\d,]+\s+[\d,]+\s+clean/.test(l));
      expect(table).toHaveLength(12);
      for (const line of table) {
        const [, written, hot, lake] = line.split(/\s{2,}/);
        expect([hot, lake]).toEqual([written, written]);
      }
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
