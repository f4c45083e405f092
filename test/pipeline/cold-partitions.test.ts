import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { allDatasets } from '../../src/datasets/index.ts';
import { EVENT_TOPIC } from '../../src/events/topics.ts';
import { runFeed } from '../../src/feed/run-feed.ts';
import { openLakeQuery } from '../../src/lake/duckdb-lake.ts';
import { readAllManifests } from '../../src/lake/manifest.ts';
import { reconcile } from '../../src/lake/reconcile.ts';
import { createKafkaLog, dropKafkaPrefix } from '../../src/log/kafka/index.ts';
import type { DualStorageWriter } from '../../src/pipeline/dual-storage-writer.ts';
import { COLD_GROUP } from '../../src/pipeline/stage1.ts';
import { createTierflow } from '../../src/tierflow.ts';
import { useTierflow } from '../support/hot.ts';
import { serverLogBackend } from '../support/log-backends.ts';
import { KAFKA_URL } from '../support/services.ts';
import { until } from '../support/until.ts';

const MEMBER = fileURLToPath(new URL('./fixtures/cold-member.ts', import.meta.url));
const PARTITIONS = 4;

/** A cold-member.ts process, with what it printed so far. */
class Member {
  readonly process: ChildProcessWithoutNullStreams;
  owns: number[] = [];
  rows = 0;
  stderr = '';
  readonly exited: Promise<number | null>;

  constructor(args: string[]) {
    this.process = spawn(process.execPath, ['--import', 'tsx', MEMBER, ...args]);
    let buffered = '';
    this.process.stdout.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop()!;
      for (const line of lines) {
        const owns = /^owns (.*)$/.exec(line);
        if (owns) this.owns = owns[1] ? owns[1].split(',').map(Number) : [];
        const rows = /^rows (\d+)$/.exec(line);
        if (rows) this.rows = Number(rows[1]);
      }
    });
    this.process.stderr.on('data', (chunk: Buffer) => (this.stderr += chunk.toString()));
    this.exited = new Promise((resolve) => this.process.on('exit', (code) => resolve(code)));
  }
}

describe('two cold consumers in one group on a Kafka event topic of several partitions', () => {
  const ctx = useTierflow({ mode: 'hot-only' });
  const prefix = serverLogBackend('kafka').prefix('coldparts');
  const members: Member[] = [];
  const dirs: string[] = [];
  afterAll(async () => {
    for (const member of members) member.process.kill('SIGKILL');
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
    await dropKafkaPrefix(KAFKA_URL, prefix).catch(() => undefined); // absent when Kafka was down
  });

  it('share the partitions; kill -9 one and the other takes its partitions, nothing lost, no lake row doubled', async (t) => {
    if (!(await serverLogBackend('kafka').available())) return t.skip();
    const dir = await mkdtemp(path.join(tmpdir(), 'tierflow-cold-partitions-'));
    dirs.push(dir);
    const lakeRoot = path.join(dir, 'lake');
    const log = await createKafkaLog(KAFKA_URL, { prefix, partitions: PARTITIONS });
    const tf = await createTierflow({ databaseUrl: ctx.url, schema: ctx.schema, mode: 'dual-write' });
    try {
      // The application. Its first writes wait in the outbox (no log attached yet); the next ones
      // take the fast path while the outbox is not empty, so their receipts are superseded and the
      // copies they append anyway, split over the partitions, must count for nothing.
      await runFeed(tf.repositories, { symbols: 1, minutes: 3, seed: 3, batchSize: 50 });
      (tf.writer as DualStorageWriter).publishTo(log, { partitions: PARTITIONS });
      await runFeed(tf.repositories, { symbols: 2, minutes: 5, seed: 1, batchSize: 200 });

      const start = () => {
        const member = new Member([ctx.url, ctx.schema, KAFKA_URL, prefix, String(PARTITIONS), lakeRoot]);
        members.push(member);
        return member;
      };
      const a = start();
      const b = start();
      await until(
        () => a.owns.length > 0 && b.owns.length > 0 && a.owns.length + b.owns.length === PARTITIONS,
        'the two members to share the partitions',
        60_000,
      );
      expect([...a.owns, ...b.owns].sort()).toEqual([0, 1, 2, 3]);
      await until(() => a.rows > 0 && b.rows > 0, 'both members to write rows to the lake', 60_000);

      // More writes, and one member killed while they flow.
      const feeding = runFeed(tf.repositories, { symbols: 2, minutes: 10, seed: 2, batchSize: 100 });
      a.process.kill('SIGKILL');
      await a.exited;
      await feeding;
      await until(
        () => b.owns.length === PARTITIONS,
        "the survivor to take the killed member's partitions",
        60_000,
      );
      await until(
        async () => (await log.lag(COLD_GROUP, EVENT_TOPIC)) === 0,
        'the group to commit every event',
        90_000,
      );

      b.process.stdin.end();
      expect(await b.exited).toBe(0);
      expect(b.stderr).toBe('');
      await using lake = await openLakeQuery(lakeRoot, allDatasets);
      const report = await reconcile({ pool: tf.hot.pool, schema: ctx.schema, lake, datasets: allDatasets });
      expect(report.clean).toBe(true);
      expect(report.days.length).toBeGreaterThan(0);
      // No change written twice: every version of a record has a position of its own (a record
      // lives in one partition, whose scope numbers its versions).
      for (const dataset of allDatasets) {
        const key = dataset.primaryKey.map((c) => `"${c}"`).join(', ');
        const [row] = await lake.query(
          `SELECT count(*) - count(DISTINCT (_position, ${key})) AS doubled FROM ${dataset.name}_history`,
        );
        expect([dataset.name, Number(row!.doubled)]).toEqual([dataset.name, 0]);
      }
      // Nor is a change written twice at two positions (a superseded copy and its outbox copy):
      // no two bars alike but for their position. Bars carry random prices, so two writes of one
      // bar never repeat a version; other datasets' feeds may rewrite a row unchanged.
      const [alike] = await lake.query(
        `SELECT (SELECT count(*) FROM market_data_history) - (SELECT count(*) FROM (SELECT DISTINCT * EXCLUDE (_position) FROM market_data_history)) AS doubled`,
      );
      expect(Number(alike!.doubled)).toBe(0);
      // Routed by row key, one dataset's rows spread over the partitions' scopes.
      const scopes = (await readAllManifests(path.join(lakeRoot, 'market_data'), 'market_data')).filter(
        (m) => m.files.length > 0,
      );
      expect(scopes.length).toBeGreaterThan(1);
    } finally {
      await tf.close();
      await log.close();
    }
  }, 240_000);
});
