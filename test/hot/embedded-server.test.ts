import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { EmbeddedPostgresServer } from '../../src/hot/embedded-server.ts';

const dataDir = path.resolve(`.tierflow/test-embedded-${randomBytes(4).toString('hex')}`);

function tierflow(...args: string[]) {
  const result = spawnSync(process.execPath, ['bin/tierflow.js', '--data-dir', dataDir, ...args], {
    encoding: 'utf8',
    env: { ...process.env, DATABASE_URL: '' },
  });
  return { code: result.status, stdout: result.stdout.trim(), stderr: result.stderr.trim() };
}

describe('embedded PostgreSQL', () => {
  afterAll(async () => {
    await new EmbeddedPostgresServer(dataDir).stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('starts with logical replication, is reused across processes, and stops cleanly', async () => {
    expect(tierflow('db', 'status')).toMatchObject({
      code: 3,
      stdout: expect.stringContaining('stopped (not initialised'),
    });

    const start = tierflow('db', 'start');
    expect(start.code, start.stderr).toBe(0);
    expect(start.stdout).toMatch(/^started: PostgreSQL on 127\.0\.0\.1:\d+/);
    expect(tierflow('db', 'start').stdout).toMatch(/^already running/);

    const url = tierflow('db', 'url').stdout;
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    const { rows } = await client.query(
      `SELECT current_setting('wal_level') AS wal_level, current_database() AS db`,
    );
    await client.end();
    expect(rows[0]).toEqual({ wal_level: 'logical', db: 'tierflow' });

    // A command run while the server runs uses it and leaves it running.
    expect(tierflow('migrate').code).toBe(0);
    expect(tierflow('db', 'status').stdout).toMatch(/^running: pid \d+/);

    expect(tierflow('db', 'stop').stdout).toBe('stopped');
    expect(tierflow('db', 'status').stdout).toMatch(/^stopped \(initialised/);
    expect(tierflow('db', 'url')).toMatchObject({ code: 1, stderr: expect.stringContaining('not running') });
  });

  it('stops a server it started itself when the command ends', () => {
    const result = tierflow('migrate');
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('is up to date');
    expect(tierflow('db', 'status').stdout).toMatch(/^stopped/);
  });
});

describe('embedded PostgreSQL on signals', () => {
  const signalDir = path.resolve(`.tierflow/test-signal-${randomBytes(4).toString('hex')}`);
  afterAll(async () => {
    await new EmbeddedPostgresServer(signalDir).stop();
    await rm(signalDir, { recursive: true, force: true });
  });

  it.each(['SIGINT', 'SIGTERM'] as const)(
    'stops the server it started when the process gets %s',
    async (signal) => {
      const child = spawn(
        process.execPath,
        ['bin/tierflow.js', '--data-dir', signalDir, 'demo', '--minutes', '100000'],
        {
          env: { ...process.env, DATABASE_URL: '' },
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      // The demo prints its first line once PostgreSQL runs and the tables exist.
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (chunk: Buffer) => {
          if (chunk.toString().includes('tierflow demo')) resolve();
        });
        child.once('exit', () => reject(new Error('the demo exited before it started writing')));
      });
      expect((await new EmbeddedPostgresServer(signalDir).status()).running).toBe(true);
      child.kill(signal);
      expect(await exited, stderr).toBe(signal === 'SIGINT' ? 130 : 143);
      expect((await new EmbeddedPostgresServer(signalDir).status()).running).toBe(false);
    },
  );
});
