import { Admin } from '@platformatic/kafka';
import { parseKafkaSpec } from './options.ts';

/**
 * Deletes every topic and consumer group whose name starts with `prefix` (tests, and an operator
 * clearing a tierflow deployment's log). Refuses an empty prefix: that would be the whole cluster.
 */
export async function dropKafkaPrefix(spec: string, prefix: string): Promise<void> {
  if (prefix.length === 0) throw new Error('refusing to drop every topic: give a prefix');
  const admin = new Admin({ clientId: 'tierflow-drop', bootstrapBrokers: parseKafkaSpec(spec).brokers });
  try {
    const topics = (await admin.listTopics()).filter((name) => name.startsWith(prefix));
    if (topics.length > 0) await admin.deleteTopics({ topics });
    const groups = [...(await admin.listGroups()).keys()].filter((id) => id.startsWith(prefix));
    if (groups.length > 0) await admin.deleteGroups({ groups });
  } finally {
    await admin.close();
  }
}
