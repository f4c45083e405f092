import { afterAll, describe, expect, it } from 'vitest';
import type { Log } from '../../src/log/log.ts';
import { createTierflow } from '../../src/tierflow.ts';
import { WAL_TOPIC } from '../../src/wal/wal-entry.ts';
import { runTierflow } from '../support/cli.ts';
import { useTierflow } from '../support/hot.ts';
import { serverLogBackend } from '../support/log-backends.ts';
import { KAFKA_URL } from '../support/services.ts';

const kafka = serverLogBackend('kafka');
const bootstrap = KAFKA_URL.replace(/^kafka:\/\//, '');

/**
 * A tierflow topic on Kafka is a plain Kafka topic: Kafka's own console consumer prints its
 * entries, kafka-consumer-groups shows tierflow's groups with their lag, and `tierflow log tail`
 * decodes the same entries. The tools run from the jars `tierflow kafka start` fetched.
 */
describe('Kafka topics read outside tierflow', () => {
  const ctx = useTierflow({ mode: 'hot-only' });
  const prefix = kafka.prefix('tools');
  let log: Log | undefined;
  afterAll(async () => {
    await log?.close();
    if (log) await kafka.drop(prefix);
  });

  it('prints entries with the console consumer, groups with kafka-consumer-groups, and decodes them with log tail', async (t) => {
    if (!(await kafka.available())) return t.skip();
    log = await kafka.open(prefix);
    const tf = await createTierflow({
      databaseUrl: ctx.url,
      schema: ctx.schema,
      mode: 'wal',
      log,
      walAck: 'hot',
    });
    try {
      const bar = (close: number) => ({
        symbol: 'KTOOL',
        interval: '1m',
        bucket_start: '2024-03-04T14:30:00Z',
        open: close,
        high: close,
        low: close,
        close,
        source: 'kafka-tools-test',
      });
      await tf.repositories.marketData.upsert([bar(1)]);
      await tf.repositories.marketData.upsert([bar(2)]);
    } finally {
      await tf.close();
    }
    const { last } = await log.stats(WAL_TOPIC);
    await log.commit('audit', WAL_TOPIC, last! - 1n);

    const consumed = runTierflow(
      'kafka',
      'tool',
      'console-consumer',
      '--',
      '--bootstrap-server',
      bootstrap,
      '--topic',
      `${prefix}${WAL_TOPIC}`,
      '--from-beginning',
      '--max-messages',
      '2',
      '--property',
      'print.offset=true',
    );
    expect(consumed.code).toBe(0);
    const printed = consumed.stdout.split('\n').filter((line) => line.includes('KTOOL'));
    expect(printed).toHaveLength(2);
    expect(printed[0]).toMatch(/^Offset:0\s/);
    expect(printed[1]).toMatch(/^Offset:1\s/);
    expect(printed.every((line) => line.includes('market_data'))).toBe(true);

    const groups = runTierflow(
      'kafka',
      'tool',
      'consumer-groups',
      '--',
      '--bootstrap-server',
      bootstrap,
      '--describe',
      '--group',
      `${prefix}audit`,
    );
    expect(groups.code).toBe(0);
    // GROUP TOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG …: committed through the first entry, one behind.
    const row = groups.stdout.split('\n').find((line) => line.includes(`${prefix}${WAL_TOPIC}`));
    expect(row?.split(/\s+/).slice(0, 6)).toEqual([
      `${prefix}audit`,
      `${prefix}${WAL_TOPIC}`,
      '0',
      '1',
      '2',
      '1',
    ]);

    const tail = runTierflow('log', '--log', kafka.spec(prefix), 'tail', WAL_TOPIC, '--format', 'json');
    expect([tail.code, tail.stderr]).toEqual([0, '']);
    const entries = tail.stdout.split('\n').map((line) => JSON.parse(line) as { payload: string });
    const rows = entries.map(
      (e) => (JSON.parse(e.payload) as { rows: { symbol: string; close: string }[] }).rows[0],
    );
    expect(rows.map((r) => [r?.symbol, r?.close])).toEqual([
      ['KTOOL', '1.000000'],
      ['KTOOL', '2.000000'],
    ]);
  }, 120_000);
});
