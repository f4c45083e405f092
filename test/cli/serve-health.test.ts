import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { runTierflow } from '../support/cli.ts';
import { dropSchema } from '../support/hot.ts';
import { TcpProxy } from '../support/tcp-proxy.ts';

interface Health {
  healthy: boolean;
  mode: string;
  checks: Record<string, { ok: boolean; detail: string; data?: unknown }>;
}

/** `tierflow serve` in a child; resolves once it printed where it serves. */
async function startServe(args: readonly string[]) {
  const child = spawn(process.execPath, ['bin/tierflow.js', ...args, '--port', '0'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stderr: string[] = [];
  createInterface({ input: child.stderr }).on('line', (line) => stderr.push(line));
  const exited = once(child, 'exit') as Promise<[number | null]>;
  const lines = createInterface({ input: child.stdout });
  const first = (await Promise.race([
    once(lines, 'line'),
    exited.then(([code]) => {
      throw new Error(`serve exited with ${code}: ${stderr.join('\n')}`);
    }),
  ])) as [string];
  const port = Number(/http:\/\/[^/\s]+:(\d+)\/metrics/.exec(first[0])?.[1]);
  return {
    health: async () => {
      const response = await fetch(`http://127.0.0.1:${port}/health`);
      return { status: response.status, body: (await response.json()) as Health };
    },
    stop: async () => {
      child.kill('SIGINT');
      const [code] = await exited;
      return { code, stderr };
    },
  };
}

describe('tierflow serve /health', () => {
  const url = new URL(inject('databaseUrl'));
  const schema = `serve_health_${process.pid}`;
  const proxy = new TcpProxy(url.hostname, Number(url.port || 5432));
  let viaProxy: string;
  const dirs: string[] = [];
  beforeAll(async () => {
    await proxy.start();
    const proxied = new URL(url);
    proxied.hostname = '127.0.0.1';
    proxied.port = String(proxy.port);
    viaProxy = proxied.toString();
  });
  afterAll(async () => {
    await proxy.stop();
    for (const name of [schema, `${schema}_dual_write`, `${schema}_wal`])
      await dropSchema(url.toString(), name);
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  it('hot-only: 200 with PostgreSQL checked, 503 naming postgres while it is unreachable, 200 once back', async () => {
    const serve = await startServe(['--database-url', viaProxy, '--schema', schema, 'serve']);
    try {
      const up = await serve.health();
      expect([up.status, Object.keys(up.body.checks)]).toEqual([200, ['postgres']]);
      expect(up.body).toMatchObject({ healthy: true, mode: 'hot-only', checks: { postgres: { ok: true } } });
      await proxy.stop();
      const down = await serve.health();
      expect([down.status, down.body.healthy, down.body.checks.postgres!.ok]).toEqual([503, false, false]);
      await proxy.start();
      expect((await serve.health()).status).toBe(200);
    } finally {
      await proxy.start();
      const { code } = await serve.stop();
      expect(code).toBe(0);
    }
  });

  const stageChecks = {
    'dual-write': {
      stage: { ok: true, data: { outboxBacklog: 0, caughtUp: true } },
      'breaker:hot': { ok: true, detail: 'closed' },
      'breaker:cold': { ok: true, detail: 'closed' },
      'breaker:event-log': { ok: true, detail: 'closed' },
    },
    wal: {
      stage: { ok: true, data: { hotLag: 0, coldLag: 0, caughtUp: true } },
      'breaker:cold': { ok: true, detail: 'closed' },
    },
  };

  it.each(['dual-write', 'wal'] as const)(
    '%s: checks PostgreSQL, the log, the stage and its breakers; 503 while PostgreSQL is unreachable',
    async (mode) => {
      const dir = await mkdtemp(path.join(tmpdir(), 'tierflow-serve-health-'));
      dirs.push(dir);
      const serve = await startServe([
        '--database-url',
        viaProxy,
        '--schema',
        `${schema}_${mode.replace('-', '_')}`,
        'serve',
        '--mode',
        mode,
        '--log',
        `file:${path.join(dir, 'log')}`,
        '--lake',
        path.join(dir, 'lake'),
      ]);
      try {
        const up = await serve.health();
        expect(up.status).toBe(200);
        expect(up.body).toMatchObject({
          healthy: true,
          mode,
          checks: { postgres: { ok: true }, log: { ok: true }, ...stageChecks[mode] },
        });
        await proxy.stop();
        const down = await serve.health();
        expect(down.status).toBe(503);
        expect(down.body.checks.postgres!.ok).toBe(false);
        expect(down.body.checks.log!.ok).toBe(true);
      } finally {
        await proxy.start();
        const { code } = await serve.stop();
        expect(code).toBe(0);
      }
    },
  );
});

describe('tierflow serve on a port in use', () => {
  it('fails with one line naming host and port, and a non-zero exit code', async () => {
    const holder = createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    const port = (holder.address() as AddressInfo).port;
    try {
      const result = runTierflow(
        '--database-url',
        inject('databaseUrl'),
        '--schema',
        `serve_port_${process.pid}`,
        'serve',
        '--port',
        String(port),
      );
      expect(result.code).toBe(1);
      expect(result.stdout).toBe('');
      expect(result.stderr).toBe(
        `tierflow: cannot serve /metrics and /health on 127.0.0.1:${port}: the address is in use (another process listens there: stop it or choose another port) [PORT_IN_USE]`,
      );
    } finally {
      await new Promise((resolve) => holder.close(resolve));
    }
  });
});
