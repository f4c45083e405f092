import type { StreamConfig } from '@nats-io/jetstream';

/**
 * What is wrong with a topic's stream for tierflow, given the configuration this log creates:
 * anything that drops, redirects or refuses entries behind the log's back. More replicas, file
 * storage where memory was asked, a longer duplicate window or another description are fine.
 * An empty list means the stream is safe to use.
 */
export function unsafeSettings(found: StreamConfig, wanted: Partial<StreamConfig>): string[] {
  const problems: string[] = [];
  const subjects = found.subjects ?? [];
  if (subjects.length !== 1 || subjects[0] !== wanted.subjects?.[0])
    problems.push(`subjects are ${JSON.stringify(subjects)}, not ${JSON.stringify(wanted.subjects)}`);
  if (found.retention !== 'limits')
    problems.push(
      `retention is "${found.retention}": the server would delete entries groups have not committed`,
    );
  // Server-side limits drop entries whether a group committed them or not; tierflow's retention
  // does it safely. A size or count limit with discard "new" refuses appends instead, loudly.
  if (found.max_age > 0) problems.push(`max_age is ${found.max_age / 1e9} s`);
  const drops = found.discard !== 'new';
  if (drops && found.max_bytes > 0) problems.push(`max_bytes is ${found.max_bytes} with discard old`);
  if (drops && found.max_msgs > 0) problems.push(`max_msgs is ${found.max_msgs} with discard old`);
  if (found.max_msgs_per_subject > 0) problems.push(`max_msgs_per_subject is ${found.max_msgs_per_subject}`);
  if (wanted.storage === 'file' && found.storage !== 'file')
    problems.push(`storage is "${found.storage}": a restart of the server would lose every entry`);
  if (found.num_replicas < (wanted.num_replicas ?? 1))
    problems.push(`${found.num_replicas} replicas, fewer than the ${wanted.num_replicas} asked for`);
  if (found.duplicate_window < (wanted.duplicate_window ?? 0))
    problems.push(
      `duplicate_window is ${found.duplicate_window / 1e9} s: a retried publish could be stored twice`,
    );
  if (found.deny_purge) problems.push('deny_purge is set: retention cannot purge');
  if (found.sealed) problems.push('the stream is sealed: it takes no appends');
  if (found.mirror) problems.push('the stream is a mirror: it takes no appends');
  return problems;
}
