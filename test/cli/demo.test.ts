import { spawnSync } from 'node:child_process';
import pg from 'pg';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { runTierflow } from '../support/cli.ts';
import { dropSchema } from '../support/hot.ts';
import { SELECTED_SERVER_LOGS } from '../support/log-backends.ts';

describe('tierflow demo', () => {
  const schema = `demo_${process.pid}`;
  const theirs = `demo_theirs_${process.pid}`;
  const url = inject('databaseUrl');
  afterAll(async () => {
    await dropSchema(url, schema);
    await dropSchema(url, theirs);
  });

  const tablesOf = async (client: pg.Client, name: string) =>
    (
      await client.query<{ tablename: string }>(
        'SELECT tablename FROM pg_tables WHERE schemaname = $1 ORDER BY tablename',
        [name],
      )
    ).rows.map((r) => r.tablename);

  it('refuses to drop a schema it did not create, and leaves it as it was', async () => {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      await client.query(`CREATE SCHEMA ${theirs}`);
      await client.query(`CREATE TABLE ${theirs}.positions (account text PRIMARY KEY, qty int NOT NULL)`);
      await client.query(`INSERT INTO ${theirs}.positions VALUES ('ACME', 100), ('GLOBEX', 7)`);
      const dataDir = await mkdtemp(path.join(tmpdir(), 'tierflow-demo-'));
      try {
        const result = runTierflow(
          '--database-url',
          url,
          '--data-dir',
          dataDir,
          '--schema',
          theirs,
          'demo',
          '--symbols',
          '1',
          '--minutes',
          '1',
          '--metrics-port',
          '0',
        );
        expect(result.code).toBe(1);
        expect(result.stdout).toBe('');
        expect(result.stderr).toMatch(
          new RegExp(
            `^tierflow: schema "${theirs}" exists and was not created by tierflow demo \\(it has no tierflow_demo_marker table\\).* \\[DEMO_SCHEMA_NOT_OURS\\]$`,
          ),
        );
      } finally {
        await rm(dataDir, { recursive: true, force: true });
      }
      expect(await tablesOf(client, theirs)).toEqual(['positions']);
      const { rows } = await client.query(`SELECT account, qty FROM ${theirs}.positions ORDER BY account`);
      expect(rows).toEqual([
        { account: 'ACME', qty: 100 },
        { account: 'GLOBEX', qty: 7 },
      ]);
    } finally {
      await client.end();
    }
  });

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
      // The schema carries the demo's mark, so the next run may drop it.
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        expect(await tablesOf(client, schema)).toContain('tierflow_demo_marker');
      } finally {
        await client.end();
      }
      // …and the next run does: it starts again from an empty schema of its own.
      const again = runTierflow(
        '--database-url',
        url,
        '--data-dir',
        dataDir,
        '--schema',
        schema,
        'demo',
        '--symbols',
        '1',
        '--minutes',
        '2',
        '--metrics-port',
        '0',
      );
      expect([again.code, again.stderr]).toEqual([0, '']);
      expect(again.stdout).toContain('reconciliation: clean');
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});

describe.each(SELECTED_SERVER_LOGS)('tierflow demo --log on $name', (server) => {
  const schema = `demo_${server.name}_${process.pid}`;
  const url = inject('databaseUrl');
  const prefix = server.prefix('demo');
  let up = false;
  afterAll(async () => {
    await dropSchema(url, schema);
    if (up) await server.drop(prefix);
  });

  it('carries stage 1 through the server log and ends with a clean reconciliation, twice', async (t) => {
    up = await server.available();
    if (!up) return t.skip();
    const dataDir = await mkdtemp(path.join(tmpdir(), `tierflow-demo-${server.name}-`));
    const demo = () =>
      runTierflow(
        '--database-url',
        url,
        '--data-dir',
        dataDir,
        '--schema',
        schema,
        'demo',
        '--symbols',
        '2',
        '--minutes',
        '5',
        '--metrics-port',
        '0',
        '--log',
        server.spec(prefix),
      );
    try {
      // The second run finds the first run's events in the log, already committed: its new lake
      // and reset schema still reconcile clean.
      for (const run of [demo(), demo()]) {
        expect([run.code, run.stderr]).toEqual([0, '']);
        expect(run.stdout).toContain(`log: ${server.spec(prefix)}`);
        expect(run.stdout).toContain('reconciliation: clean');
      }
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
