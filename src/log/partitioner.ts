/**
 * The partition of a key on a topic of several partitions (Kafka), for the log's appends and for
 * writers that split a batch by key (events/event-routing.ts): murmur2 of the key's UTF-8 bytes, made positive, modulo the
 * partition count: the rule of Kafka's Java client's default partitioner, so a producer outside
 * tierflow that keys by the same string lands on the same partition. Entries without a key go to
 * partition 0.
 */
export function partitionOf(key: string | undefined, partitions: number): number {
  if (partitions <= 1 || key === undefined) return 0;
  return (murmur2(Buffer.from(key)) & 0x7fffffff) % partitions;
}

/** MurmurHash2, 32-bit, with the seed Kafka uses (0x9747b28c). */
export function murmur2(data: Uint8Array): number {
  const m = 0x5bd1e995;
  const length = data.length;
  let h = (0x9747b28c ^ length) | 0;
  const whole = length & ~3;
  for (let i = 0; i < whole; i += 4) {
    let k = data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24);
    k = Math.imul(k, m);
    k ^= k >>> 24;
    k = Math.imul(k, m);
    h = Math.imul(h, m) ^ k;
  }
  const rest = length & 3;
  if (rest === 3) h ^= data[whole + 2]! << 16;
  if (rest >= 2) h ^= data[whole + 1]! << 8;
  if (rest >= 1) {
    h ^= data[whole]!;
    h = Math.imul(h, m);
  }
  h ^= h >>> 13;
  h = Math.imul(h, m);
  h ^= h >>> 15;
  return h | 0;
}
