export { KafkaBroker, type BrokerStatus } from './broker.ts';
export { KafkaBrokerError } from './errors.ts';
export { brokerAnswers, probeBroker } from './probe.ts';
export { ensureJars, kafkaVersion } from './jars.ts';
export { KAFKA_TOOLS, runKafkaTool, toolCommand } from './tools.ts';
