import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { findDataset } from '../../src/datasets/index.ts';
import { decodeEvent } from '../../src/events/data-written-event.ts';
import type { Log } from '../../src/log/log.ts';
import { readCheckpoint } from '../../src/wal/checkpoints.ts';
import { WAL_TOPIC } from '../../src/wal/wal-entry.ts';
import { useTierflow } from '../support/hot.ts';
import { SELECTED_SERVER_LOGS } from '../support/log-backends.ts';
import { until } from '../support/until.ts';

const CHILD = fileURLToPath(new URL('./fixtures/wal-process.ts', import.meta.url));
const OPS = 150;

/** A child process of wal-process.ts, with what it printed so far. */
class Child {
  readonly process: ChildProcessWithoutNullStreams;
  acks = 0;
  active = false;
  done = false;
  exited: Promise<number | null>;
  stderr = '';

  constructor(args: string[]) {
    this.process = spawn(process.execPath, ['--import', 'tsx', CHILD, ...args]);
    let buffered = '';
    this.process.stdout.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop()!;
      for (const line of lines) {
        if (line === 'active') this.active = true;
        else if (line === 'done') this.done = true;
        else if (line.startsWith('ack ')) this.acks++;
      }
    });
    this.process.stderr.on('data', (chunk: Buffer) => (this.stderr += chunk.toString()));
    this.exited = new Promise((resolve) => this.process.once('exit', (code) => resolve(code)));
  }
}

/** The table as the WAL says it must end: every key's last write, in WAL order, deletes removing it. */
async function lastWrites(log: Log): Promise<{ expected: Map<string, string>; deletes: number }> {
  const expected = new Map<string, string>();
  let deletes = 0;
  for await (const batch of log.read(WAL_TOPIC, { from: 'earliest', follow: false }))
    for (const entry of batch) {
      const event = decodeEvent(entry.payload, findDataset);
      for (const row of event.rows) {
        const key = `${String(row.symbol)}|${String(row.bucket_start)}`;
        if (event.op === 'd') {
          expected.delete(key);
          deletes++;
        } else expected.set(key, row.close as string);
      }
    }
  return { expected, deletes };
}

describe.each(SELECTED_SERVER_LOGS)('one hot processor per schema, wherever it runs, on $name', (backend) => {
  // Creates the tables; the children start in WAL mode on them.
  const ctx = useTierflow({ mode: 'hot-only' });
  const prefix = backend.prefix('many');
  const children: Child[] = [];
  let opened = false;
  afterAll(async () => {
    for (const child of children) child.process.kill('SIGKILL');
    if (opened) await backend.drop(prefix);
  });

  it('three processes write, update and delete the same keys; the owner is killed and restarted; the table ends as the last write of every key', async (t) => {
    if (!(await backend.available())) return t.skip();
    const log: Log = await backend.open(prefix);
    opened = true;
    const start = (id: number) => {
      const child = new Child([ctx.url, ctx.schema, backend.name, prefix, String(id), String(OPS)]);
      children.push(child);
      return child;
    };
    try {
      const running = [start(0), start(1), start(2)];
      await until(() => running.some((c) => c.active), 'a processor to take the lease', 60_000);
      const owners = running.filter((c) => c.active);
      expect(owners).toHaveLength(1);
      const owner = owners[0]!;
      await until(() => owner.acks >= OPS / 3, 'the owner to write a third of its changes', 60_000);

      owner.process.kill('SIGKILL');
      await owner.exited;
      const others = running.filter((c) => c !== owner);
      // The lease passes to one of the two left: its PostgreSQL session died with the owner.
      await until(() => others.some((c) => c.active), 'a takeover', 30_000);
      expect(others.filter((c) => c.active)).toHaveLength(1);

      const restarted = start(running.indexOf(owner));
      await until(() => [restarted, ...others].every((c) => c.done), 'every writer to finish', 120_000).catch(
        (error: Error) => {
          const seen = [restarted, ...others].map(
            (c) => `acks ${c.acks}, done ${c.done}, stderr ${c.stderr}`,
          );
          throw new Error(`${error.message}: ${seen.join('; ')}`);
        },
      );

      const stats = await log.stats(WAL_TOPIC);
      await until(
        async () => (await readCheckpoint(ctx.tf.hot.pool, ctx.schema, 'hot'))?.position === stats.last,
        'the hot processor to apply the whole WAL',
        60_000,
      );
      const { expected, deletes } = await lastWrites(log);
      const { rows } = await ctx.tf.hot.pool.query<{ symbol: string; bucket_start: string; close: string }>(
        `SELECT symbol, bucket_start, close FROM "${ctx.schema}".market_data`,
      );
      const actual = new Map(rows.map((r) => [`${r.symbol}|${r.bucket_start}`, r.close]));
      expect(actual).toEqual(expected);
      // Deletes and rewrites were interleaved, so the comparison covers rows that must stay gone.
      expect(deletes).toBeGreaterThan(10);

      for (const child of [restarted, ...others]) child.process.stdin.end();
      for (const child of [restarted, ...others]) expect(await child.exited).toBe(0);
      for (const child of [restarted, ...others]) expect(child.stderr).toBe('');
    } finally {
      await log.close();
    }
  }, 300_000);
});
