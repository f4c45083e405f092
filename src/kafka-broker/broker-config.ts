/** Where one broker listens and keeps its data. */
export interface BrokerSettings {
  /** Directory of the broker's data, its configuration, log and pid file. */
  dir: string;
  host: string;
  /** Client port (PLAINTEXT). */
  port: number;
  /** KRaft controller port. */
  controllerPort: number;
  /**
   * Flush each partition to disk after every append (log.flush.interval.messages=1). On by default
   * here: a single broker has no replica to recover from, so without it an acknowledged entry
   * lives only in the page cache until the operating system writes it out, and a power loss can
   * take it. A kill -9 of the broker loses nothing either way (the page cache survives).
   */
  flushEveryAppend: boolean;
}

/**
 * server.properties for one combined broker + controller (KRaft), on loopback, with every internal
 * topic at replication factor 1. Topics are never created implicitly: the log creates its own,
 * with the settings it needs (kafka-log.ts), and a mistyped topic fails instead of appearing.
 */
export function brokerProperties(settings: BrokerSettings, dataDir: string): string {
  const { host, port, controllerPort } = settings;
  const lines = [
    'process.roles=broker,controller',
    'node.id=1',
    `controller.quorum.voters=1@${host}:${controllerPort}`,
    `listeners=PLAINTEXT://${host}:${port},CONTROLLER://${host}:${controllerPort}`,
    `advertised.listeners=PLAINTEXT://${host}:${port}`,
    'controller.listener.names=CONTROLLER',
    'inter.broker.listener.name=PLAINTEXT',
    'listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
    `log.dirs=${dataDir}`,
    'num.partitions=1',
    'auto.create.topics.enable=false',
    'offsets.topic.replication.factor=1',
    'transaction.state.log.replication.factor=1',
    'transaction.state.log.min.isr=1',
    'share.coordinator.state.topic.replication.factor=1',
    'share.coordinator.state.topic.min.isr=1',
    'group.initial.rebalance.delay.ms=0',
    // After a crash the controller refuses the restarted broker's registration
    // (DUPLICATE_BROKER_REGISTRATION) until the dead incarnation's session expires: 9 s by default,
    // which made a restart after kill -9 take 15 s instead of 6. One node has no other broker to
    // fence in favour of, so a short session costs nothing; heartbeats stay well within it.
    'broker.heartbeat.interval.ms=500',
    'broker.session.timeout.ms=2500',
    // Two cores: a few threads each, not one per core of a server.
    'num.network.threads=2',
    'num.io.threads=4',
    'background.threads=4',
  ];
  if (settings.flushEveryAppend) lines.push('log.flush.interval.messages=1');
  return `${lines.join('\n')}\n`;
}

/** JVM flags: a 1 GiB heap is ample for one broker on a test or development machine. */
export const BROKER_JVM_FLAGS = [
  '-Xms256m',
  '-Xmx1g',
  '-XX:+UseG1GC',
  '-XX:MaxGCPauseMillis=20',
  '-XX:+ExitOnOutOfMemoryError',
  '-Djava.awt.headless=true',
];
