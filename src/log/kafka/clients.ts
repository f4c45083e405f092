import { Admin, Consumer, Producer, ProduceAcks } from '@platformatic/kafka';
import type { ResolvedKafkaLogOptions } from './options.ts';

/** The three clients one Kafka log uses; all are plain Buffer in, Buffer out. */
export interface KafkaClients {
  admin: Admin;
  /** Used only to fetch and to list offsets: it never joins its group. */
  fetcher: Consumer;
  /** The current idempotent producer (replaced after a failed send, see ProducerSlot). */
  producer: ProducerSlot;
  close(): Promise<void>;
}

function base(options: ResolvedKafkaLogOptions, role: string) {
  return {
    clientId: `${options.clientId}-${role}`,
    bootstrapBrokers: options.brokers,
    // `timeout` is what the broker is told to wait (acks, long polls); `requestTimeout` is how
    // long the client waits for an answer before it gives up on the request.
    timeout: options.requestTimeoutMs,
    requestTimeout: options.requestTimeoutMs + 5000,
    connectTimeout: Math.min(options.requestTimeoutMs, 5000),
    // Two more tries of a failed request; a send that still fails retires its producer
    // (ProducerSlot), so the client's unbounded retries for idempotent producers are not wanted.
    retries: 2,
    retryDelay: 250,
  };
}

/**
 * The idempotent producer, acks=all. After any failed send it is closed and the next send gets a
 * new one, with a new producer id: the client advances its sequence numbers only on success, so
 * after a send whose outcome it never learned (a timeout, a broker gone mid-request) the same
 * producer would number the next batch like the lost one, and a broker that did store the lost
 * batch would answer the new one as its duplicate, acknowledging entries it never wrote.
 */
export class ProducerSlot {
  private current: Producer | undefined;
  private readonly retired = new Set<Promise<void>>();

  /**
   * `rolloverAfter`: the client keeps a producer's sequence numbers in a signed 32-bit field and
   * does not wrap them as Kafka's Java client does, so past 2^31 records to a partition every send
   * fails. A producer is replaced (a new producer id, sequences from 0) well before that.
   */
  constructor(
    private readonly options: ResolvedKafkaLogOptions,
    private readonly rolloverAfter = 2 ** 30,
  ) {}

  /** Records the current producer has sent: see rolloverAfter. */
  private sent = 0;

  /** Counts records the current producer sent, and replaces it once it nears rolloverAfter. */
  count(producer: Producer, records: number): void {
    if (this.current !== producer) return;
    this.sent += records;
    if (this.sent >= this.rolloverAfter) this.retire(producer);
  }

  get(): Producer {
    this.current ??= new Producer({
      ...base(this.options, 'producer'),
      idempotent: true,
      acks: ProduceAcks.ALL,
    });
    return this.current;
  }

  /** Drops `producer` if it is still the current one; it closes in the background. */
  retire(producer: Producer): void {
    if (this.current !== producer) return;
    this.current = undefined;
    this.sent = 0;
    // A broken producer may not close cleanly: what it failed with was reported by the send.
    const closing = new Promise<void>((resolve) => producer.close(true, () => resolve()));
    this.retired.add(closing);
    void closing.then(() => this.retired.delete(closing));
  }

  async close(): Promise<void> {
    const producer = this.current;
    this.current = undefined;
    await Promise.all([...this.retired]);
    if (producer) await producer.close();
  }
}

export function createClients(options: ResolvedKafkaLogOptions): KafkaClients {
  const admin = new Admin(base(options, 'admin'));
  const fetcher = new Consumer({
    ...base(options, 'reader'),
    groupId: `${options.prefix}tierflow-reader`,
  });
  const producer = new ProducerSlot(options);
  return {
    admin,
    fetcher,
    producer,
    async close() {
      const results = await Promise.allSettled([producer.close(), fetcher.close(), admin.close()]);
      const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed.length > 0)
        throw new AggregateError(
          failed.map((r) => r.reason),
          'closing the Kafka clients failed',
        );
    },
  };
}
