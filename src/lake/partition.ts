/** Hive partitions by the UTC day of the event time: `year=YYYY/month=MM/day=DD`. */
export function dayOf(eventTime: string): string {
  return eventTime.slice(0, 10);
}

export function partitionDir(day: string): string {
  return `year=${day.slice(0, 4)}/month=${day.slice(5, 7)}/day=${day.slice(8, 10)}`;
}
