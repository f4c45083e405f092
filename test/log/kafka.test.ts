import { randomBytes } from 'node:crypto';
import { createKafkaLog, dropKafkaPrefix } from '../../src/log/kafka/index.ts';
import { KAFKA_URL, pingKafka, serviceAvailable } from '../support/services.ts';
import type { LogHarness } from './conformance.ts';
import { logConformance } from './conformance.ts';

const randomPrefix = () => `tftest-${randomBytes(4).toString('hex')}.`;

logConformance('kafka', async () => {
  if (!(await serviceAvailable('Kafka', pingKafka))) return undefined;
  const prefix = randomPrefix();
  const harness: LogHarness = {
    open: () => createKafkaLog(KAFKA_URL, { prefix }),
    cleanup: () => dropKafkaPrefix(KAFKA_URL, prefix),
    maxPayloadBytes: 8 * 1024 * 1024,
  };
  return harness;
});
