import type { Redis } from 'ioredis';
import { UnexpectedReplyError } from './errors.ts';

/**
 * The first entry of a stream taken at or after a time. A dense stream's IDs say nothing about
 * time, but its entries' `t` fields never decrease along the stream, so the script binary-searches
 * sequences on the server: about log2(entries) XRANGE … COUNT 1 calls in one round trip, no
 * payload crossing the network. Gaps in the sequence (entries deleted outside tierflow) are
 * harmless: each probe takes the first entry at or after the middle.
 */
const SEEK_SCRIPT = `
local target = tonumber(ARGV[1])
local function fmt(n) return string.format('%.0f', n) end
local function stamp(entry)
  local fields = entry[2]
  for i = 1, #fields, 2 do
    if fields[i] == 't' then return tonumber(fields[i + 1]) end
  end
  return redis.error_reply('ERR stream entry ' .. entry[1] .. ' of ' .. KEYS[1] .. ' has no time field')
end
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)[1]
if not last then return {'empty'} end
if string.sub(last[1], 1, 2) ~= '0-' then return {'legacy'} end
local lastT = stamp(last)
if type(lastT) == 'table' then return lastT end
if lastT < target then return {'after', last[1]} end
local first = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)[1]
local lo = tonumber(string.sub(first[1], 3))
local hi = tonumber(string.sub(last[1], 3))
local found = last
while lo < hi do
  local mid = math.floor((lo + hi) / 2)
  local entry = redis.call('XRANGE', KEYS[1], '0-' .. fmt(mid), '+', 'COUNT', 1)[1]
  local t = stamp(entry)
  if type(t) == 'table' then return t end
  if t >= target then
    hi = mid
    found = entry
  else
    lo = mid + 1
  end
end
return {'at', found[1]}
`;

/**
 * Where a seek by time lands: an empty stream; a legacy stream (its IDs carry the time, so the
 * caller builds the ID itself); after the last entry (all are older); or at an entry's ID.
 */
export type TimeSeek =
  { kind: 'empty' } | { kind: 'legacy' } | { kind: 'after'; id: string } | { kind: 'at'; id: string };

export async function seekTime(client: Redis, streamKey: string, ms: number): Promise<TimeSeek> {
  const reply = await client.eval(SEEK_SCRIPT, 1, streamKey, Math.floor(ms));
  if (Array.isArray(reply)) {
    const [kind, id] = reply as unknown[];
    if ((kind === 'empty' || kind === 'legacy') && reply.length === 1) return { kind };
    if ((kind === 'after' || kind === 'at') && typeof id === 'string' && reply.length === 2)
      return { kind, id };
  }
  throw new UnexpectedReplyError('the time-seek script', reply);
}
