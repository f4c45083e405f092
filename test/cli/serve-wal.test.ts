import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, describe, expect, it } from 'vitest';
import { useTierflow } from '../support/hot.ts';
import { EVERY_LOG } from '../support/log-backends.ts';

describe.each(EVERY_LOG)('tierflow serve --mode wal on the $name log', ({ server }) => {
  const ctx = useTierflow({ mode: 'hot-only' });
  const dirs: string[] = [];
  const prefixes: string[] = [];
  afterAll(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
    for (const prefix of prefixes) await server!.drop(prefix);
  });

  it('runs the hot and cold processors, reports them at /health and /metrics, and stops on SIGINT', async (t) => {
    if (server && !(await server.available())) return t.skip();
    const dir = await mkdtemp(path.join(tmpdir(), 'tierflow-serve-wal-'));
    dirs.push(dir);
    const prefix = server?.prefix('serve');
    if (prefix) prefixes.push(prefix);
    const spec = server ? server.spec(prefix!) : `file:${path.join(dir, 'log')}`;
    const child = spawn(
      process.execPath,
      [
        'bin/tierflow.js',
        '--database-url',
        ctx.url,
        '--schema',
        ctx.schema,
        'serve',
        '--mode',
        'wal',
        '--port',
        '0',
        '--log',
        spec,
        '--lake',
        path.join(dir, 'lake'),
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const lines: string[] = [];
    const stderr: string[] = [];
    createInterface({ input: child.stderr! }).on('line', (line) => stderr.push(line));
    const exited = once(child, 'exit');
    const [first] = (await once(
      createInterface({ input: child.stdout! }).on('line', (l) => lines.push(l)),
      'line',
    )) as [string];
    const port = Number(/^tierflow serve: wal mode, http:\/\/[^/\s]+:(\d+)\/metrics/.exec(first)?.[1]);
    expect(port).toBeGreaterThan(0);

    const response = await fetch(`http://127.0.0.1:${port}/health`);
    const health = (await response.json()) as Record<string, unknown>;
    expect(response.status).toBe(200);
    expect(health).toMatchObject({
      healthy: true,
      mode: 'wal',
      checks: {
        postgres: { ok: true },
        log: { ok: true },
        stage: { ok: true, data: { hotLag: 0, coldLag: 0, caughtUp: true } },
        'breaker:cold': { ok: true, detail: 'closed' },
      },
    });
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    expect(metrics).toContain('circuit_breaker_state{breaker="cold"} 0');

    child.kill('SIGINT');
    const [code] = (await exited) as [number | null];
    expect(code).toBe(0);
    expect(lines.at(-1)).toBe('tierflow serve: stopped');
    expect(stderr).toEqual([]);
  });
});
