import type { Redis } from 'ioredis';
import { UnexpectedReplyError } from './errors.ts';

/**
 * Redis keeps no index from an ID to its rank in a stream, so counting entries means walking
 * them. The walk runs on the server, so payloads never cross the network; its pages follow the
 * entry sizes seen (about PAGE_BYTES each), so large payloads are held a few at a time; and each
 * call stops after a budget of entries or bytes, so one count never blocks the server for long.
 */
const COUNT_SCRIPT = `
local after = ARGV[1]
local budget = tonumber(ARGV[2])
local pageBytes = tonumber(ARGV[3])
local byteBudget = tonumber(ARGV[4])
local page = 16
local n = 0
local bytes = 0
while n < budget and bytes < byteBudget do
  local want = math.min(page, budget - n)
  local entries = redis.call('XRANGE', KEYS[1], '(' .. after, '+', 'COUNT', want)
  local got = #entries
  if got == 0 then return {n, after, 1} end
  local seen = 0
  for i = 1, got do
    local fields = entries[i][2]
    for j = 2, #fields, 2 do seen = seen + #fields[j] end
  end
  n = n + got
  bytes = bytes + seen
  after = entries[got][1]
  if got < want then return {n, after, 1} end
  page = math.max(1, math.min(1024, math.floor(pageBytes * got / math.max(seen, 1))))
end
return {n, after, 0}
`;

const PAGE_BYTES = 1024 * 1024;
const ENTRY_BUDGET_PER_CALL = 20_000;
const BYTE_BUDGET_PER_CALL = 64 * 1024 * 1024;

export interface CountResult {
  /** Entries counted (at most `limit`). */
  count: number;
  /** The ID of the last entry counted, or `afterId` if none. */
  lastId: string;
}

/** Counts the entries of `key` with an ID above `afterId`, stopping at `limit`. */
export async function countEntriesAfter(
  client: Redis,
  key: string,
  afterId: string,
  limit = Number.POSITIVE_INFINITY,
): Promise<CountResult> {
  let count = 0;
  let lastId = afterId;
  while (count < limit) {
    const budget = Math.min(ENTRY_BUDGET_PER_CALL, limit - count);
    const reply = await client.eval(COUNT_SCRIPT, 1, key, lastId, budget, PAGE_BYTES, BYTE_BUDGET_PER_CALL);
    const [n, last, done] = parseReply(reply);
    count += n;
    lastId = last;
    if (done) break;
  }
  return { count, lastId };
}

function parseReply(reply: unknown): [number, string, boolean] {
  if (!Array.isArray(reply) || reply.length !== 3)
    throw new UnexpectedReplyError('the entry-count script', reply);
  const [n, last, done] = reply as unknown[];
  if (typeof n !== 'number' || typeof last !== 'string' || typeof done !== 'number')
    throw new UnexpectedReplyError('the entry-count script', reply);
  return [n, last, done === 1];
}
