import type { Redis } from 'ioredis';
import type { LogEntryInput, Position } from '../log.ts';
import { encodeEntryFields } from './entry-codec.ts';
import { UnexpectedReplyError } from './errors.ts';
import type { RedisLogKeys } from './keys.ts';
import { DENSE_LIMIT, positionFromStreamId } from './stream-id.ts';
import type { WaitAofOptions } from './wait-aof.ts';
import { waitForAof } from './wait-aof.ts';

/**
 * One script call per append, so a batch is atomic: its entries get consecutive IDs with no
 * other appender's entries between them, and the topic joins the topics set in the same call.
 *
 * A dense stream (every stream this version creates) numbers its entries 0-1, 0-2, …: the first
 * entry of a batch takes the ID after the one in the stream's record (`meta`: last sequence `n`,
 * last time `t`), so the count goes on even if the stream key was deleted; the stream's own last
 * ID wins if it is higher (entries added outside tierflow). Each entry carries the time in field
 * `t`: the server's TIME, raised to the record's last time if the clock went back, so the times
 * of a stream never decrease (what a seek by time relies on).
 *
 * A stream written before (IDs from the server clock) refuses the `0-*` ID, which is how the
 * script recognises it: it goes on appending with `*` and no time field, the old numbering, and
 * keeps no record. A dense stream refuses nothing a newer tierflow appends; but a tierflow from before
 * dense positions appends with `*` (clock IDs, always higher) and is accepted, after which every
 * dense append would fail: the script names that case (`mixed numbering`). Upgrade every process
 * of a Redis log together (docs/log-redis.md).
 */
const APPEND_SCRIPT = `
local stream, topics, meta = KEYS[1], KEYS[2], KEYS[3]
local count = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
local function fmt(n) return string.format('%.0f', n) end
local record = redis.call('HMGET', meta, 'n', 't')
local lastN = record[1] and tonumber(record[1])
local lastT = record[2] and tonumber(record[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
if lastT and lastT > now then now = lastT end
local stamp = fmt(now)
local entries = {}
local at = 4
for e = 1, count do
  local n = tonumber(ARGV[at])
  entries[e] = {unpack(ARGV, at + 1, at + n)}
  at = at + n + 1
end
local function add(id, e, dense)
  if dense then return redis.pcall('XADD', stream, id, 't', stamp, unpack(entries[e])) end
  return redis.pcall('XADD', stream, id, unpack(entries[e]))
end
local function failed(reply) return type(reply) == 'table' and reply.err ~= nil end
local dense = true
local first
if lastN then
  if lastN + count >= limit then
    return redis.error_reply('ERR dense stream ' .. stream .. ' is full: positions must stay below ' .. fmt(limit))
  end
  first = add('0-' .. fmt(lastN + 1), 1, true)
  if failed(first) and redis.call('EXISTS', stream) == 1 then first = add('0-*', 1, true) end
  if failed(first) then
    local newest = redis.call('XREVRANGE', stream, '+', '-', 'COUNT', 1)[1]
    if newest and string.sub(newest[1], 1, 2) ~= '0-' then
      return redis.error_reply('ERR mixed numbering: dense stream ' .. stream .. ' ends in ' .. newest[1] .. ', a clock-based ID that a tierflow from before dense positions appended; stop every older tierflow process using this log before upgrading')
    end
  end
else
  first = add('0-*', 1, true)
  if failed(first) and string.find(first.err, 'equal or smaller', 1, true) then
    dense = false
    first = add('*', 1, false)
  end
end
if failed(first) then return first end
local ids = {first}
local nextId = dense and '0-*' or '*'
for e = 2, count do ids[e] = redis.call('XADD', stream, nextId, unpack(dense and {'t', stamp, unpack(entries[e])} or entries[e])) end
redis.call('SADD', topics, ARGV[1])
if dense then redis.call('HSET', meta, 'n', string.sub(ids[count], 3), 't', stamp) end
return ids
`;

/**
 * Appends `entries` atomically (see APPEND_SCRIPT), then waits for the AOF fsyncs asked for.
 * The script call is sent before this function first awaits, so appends keep their call order.
 */
export async function appendToStream(
  client: Redis,
  keys: RedisLogKeys,
  topic: string,
  entries: readonly LogEntryInput[],
  waitAof: WaitAofOptions | undefined,
): Promise<Position[]> {
  const args: (string | Buffer | number)[] = [topic, entries.length, DENSE_LIMIT.toString()];
  for (const entry of entries) {
    const fields = encodeEntryFields(entry);
    args.push(fields.length, ...fields);
  }
  const reply = await client.eval(
    APPEND_SCRIPT,
    3,
    keys.stream(topic),
    keys.topics,
    keys.meta(topic),
    ...args,
  );
  if (
    !Array.isArray(reply) ||
    reply.length !== entries.length ||
    !reply.every((id) => typeof id === 'string')
  )
    throw new UnexpectedReplyError('the append script', reply);
  if (waitAof) await waitForAof(client, waitAof);
  return (reply as string[]).map(positionFromStreamId);
}
