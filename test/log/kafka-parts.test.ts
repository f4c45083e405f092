import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/core/index.ts';
import { ProducerSlot } from '../../src/log/kafka/clients.ts';
import { parseKafkaSpec, resolveKafkaOptions } from '../../src/log/kafka/options.ts';
import { murmur2, partitionOf } from '../../src/log/partitioner.ts';
import { offsetOf, partitionOfPosition, positionOf } from '../../src/log/partition-position.ts';
import { openLog } from '../../src/log/open-log.ts';

describe('the Kafka log, without a broker', () => {
  it('hashes keys as the Java client does, so other producers keyed alike pick the same partition', () => {
    // Computed with org.apache.kafka.common.utils.Utils.murmur2 and toPositive(h) % 12 from the
    // kafka-clients 4.1.1 jar `tierflow kafka start` fetches.
    const vectors: [string, number, number][] = [
      ['', 275646681, 9],
      ['a', -1563381124, 4],
      ['ab', 316155434, 2],
      ['abc', 479470107, 3],
      ['abcd', -1323649548, 8],
      ['abcde', 461995741, 1],
      ['market_data', 485883271, 7],
      ['trades|AAPL|2024-03-04T14:30:00Z', -1074763316, 0],
      ['ünïcødé', 2147241326, 2],
      ['21', -973932308, 0],
    ];
    for (const [key, hash, partition] of vectors) {
      expect(murmur2(Buffer.from(key))).toBe(hash);
      expect(partitionOf(key, 12)).toBe(partition);
    }
    expect(partitionOf(undefined, 12)).toBe(0);
    expect(partitionOf('anything', 1)).toBe(0);
  });

  it('packs the partition above a 48-bit offset, partition 0 being the offset itself', () => {
    expect(positionOf(0, 41n)).toBe(41n);
    const p = positionOf(7, 123_456_789n);
    expect([partitionOfPosition(p), offsetOf(p)]).toEqual([7, 123_456_789n]);
  });

  it('replaces the producer before its 32-bit sequence numbers run out', async () => {
    const slot = new ProducerSlot(resolveKafkaOptions({ brokers: ['127.0.0.1:1'] }), 10);
    const first = slot.get();
    slot.count(first, 6);
    expect(slot.get()).toBe(first);
    slot.count(first, 4);
    const second = slot.get();
    expect(second).not.toBe(first);
    // A count for a producer already replaced changes nothing.
    slot.count(first, 100);
    expect(slot.get()).toBe(second);
    await slot.close();
  });

  it('parses specs and refuses bad ones by name', () => {
    expect(parseKafkaSpec('kafka://a:9092,b:9093?prefix=p.&partitions=3&appendTimeoutMs=500')).toEqual({
      brokers: ['a:9092', 'b:9093'],
      prefix: 'p.',
      partitions: 3,
      appendTimeoutMs: 500,
    });
    expect(() => parseKafkaSpec('kafka://a')).toThrow(/broker "a" .* is not host:port/);
    expect(() => parseKafkaSpec('kafka://a:1?colour=red')).toThrow(/unknown option "colour"/);
    expect(() => resolveKafkaOptions({ brokers: ['a:1'], partitions: 0 })).toThrow(ConfigError);
    expect(() => resolveKafkaOptions({ brokers: ['a:1'], appendTimeoutMs: -1 })).toThrow(/appendTimeoutMs/);
  });

  it('takes ?prefix= off a server spec without parsing the rest, and refuses an empty one', async () => {
    await expect(openLog('redis://127.0.0.1:6379?prefix=')).rejects.toThrow(ConfigError);
    await expect(openLog('nats://127.0.0.1:4222?prefix=')).rejects.toThrow(/needs a name/);
  });
});
