import { createHash } from 'node:crypto';

/**
 * How tierflow names map onto JetStream names. Stream names may not hold '.', '*', '>', spaces or
 * path separators, and a subject token may not hold '.', so topic and group names are escaped:
 * letters, digits and '-' stay, every other UTF-8 byte becomes '_' and two lowercase hex digits
 * ("a.b_c" → "a_2eb_5fc"). The escape is reversible, so the token alone names the topic; names
 * whose escape would be too long for a file-store directory are cut and end in "_h" and a hash,
 * which no escape can produce, and the stream's description keeps the original name.
 */

const PREFIX = /^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$/;
/** Leaves the stream name (prefix, '_', token) within the 255 bytes of a file-store directory name. */
const MAX_TOKEN = 200;
const HASHED = /_h[0-9a-f]{16}$/;
const DESCRIPTION = 'tierflow topic ';

export function isValidPrefix(prefix: string): boolean {
  return PREFIX.test(prefix);
}

export function escapeName(name: string): string {
  const pieces: string[] = [];
  for (const byte of Buffer.from(name, 'utf8')) {
    const isPlain =
      (byte >= 0x30 && byte <= 0x39) ||
      (byte >= 0x41 && byte <= 0x5a) ||
      (byte >= 0x61 && byte <= 0x7a) ||
      byte === 0x2d;
    pieces.push(isPlain ? String.fromCharCode(byte) : `_${byte.toString(16).padStart(2, '0')}`);
  }
  const escaped = pieces.join('');
  if (escaped.length <= MAX_TOKEN) return escaped;
  const hash = createHash('sha256').update(name, 'utf8').digest('hex').slice(0, 16);
  let cut = '';
  for (const piece of pieces) {
    if (cut.length + piece.length > MAX_TOKEN - 18) break;
    cut += piece;
  }
  return `${cut}_h${hash}`;
}

/** The name an escaped token stands for, or undefined for a hashed (cut) token. */
export function unescapeName(token: string): string | undefined {
  if (HASHED.test(token)) return undefined;
  const bytes: number[] = [];
  for (let i = 0; i < token.length; i++) {
    if (token[i] === '_') {
      const hex = token.slice(i + 1, i + 3);
      if (!/^[0-9a-f]{2}$/.test(hex)) return undefined;
      bytes.push(Number.parseInt(hex, 16));
      i += 2;
    } else {
      bytes.push(token.charCodeAt(i));
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

/** Every JetStream name one log (one prefix) uses. */
export class NatsNames {
  readonly offsetsBucket: string;
  readonly offsetsStream: string;

  constructor(readonly prefix: string) {
    this.offsetsBucket = `${prefix}_offsets`;
    // The KV layout (stream KV_<bucket>, subjects $KV.<bucket>.<key>), so `nats kv get` reads it too.
    this.offsetsStream = `KV_${this.offsetsBucket}`;
  }

  stream(topic: string): string {
    return `${this.prefix}_${escapeName(topic)}`;
  }

  subject(topic: string): string {
    return `${this.prefix}.${escapeName(topic)}`;
  }

  description(topic: string): string {
    return `${DESCRIPTION}${topic}`;
  }

  offsetsSubject(group: string, topic: string): string {
    return `$KV.${this.offsetsBucket}.${escapeName(group)}.${escapeName(topic)}`;
  }

  /** The subject filter matching every group's committed position on a topic. */
  offsetsOfTopic(topic: string): string {
    return `$KV.${this.offsetsBucket}.*.${escapeName(topic)}`;
  }

  /**
   * The topic a stream holds, if it is one of this log's topic streams: its name carries the
   * prefix and its only subject is the one that topic maps to (so the streams of a prefix that
   * merely starts with ours, "A_B" beside "A", are not taken for ours).
   */
  topicOf(stream: { name: string; subjects: readonly string[]; description?: string }): string | undefined {
    if (!stream.name.startsWith(`${this.prefix}_`)) return undefined;
    const token = stream.name.slice(this.prefix.length + 1);
    const described = stream.description?.startsWith(DESCRIPTION)
      ? stream.description.slice(DESCRIPTION.length)
      : undefined;
    const topic = unescapeName(token) ?? described;
    if (topic === undefined || this.stream(topic) !== stream.name) return undefined;
    if (stream.subjects.length !== 1 || stream.subjects[0] !== this.subject(topic)) return undefined;
    return topic;
  }
}
