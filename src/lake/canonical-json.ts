/**
 * JSON text exactly as PostgreSQL prints a jsonb value: object keys ordered by length, then
 * bytewise (jsonb's storage order), `": "` and `", "` separators, numbers in plain decimal
 * notation (jsonb keeps numerics, which never print an exponent). The lake stores json columns in
 * this form, so the same value has the same text in both tiers and reconciliation can compare them.
 */
export function canonicalJson(value: unknown): string {
  // What the hot tier received went through JSON.stringify (toJSON, dropped undefined): start there.
  return print(JSON.parse(JSON.stringify(value ?? null)) as unknown);
}

function print(value: unknown): string {
  if (typeof value === 'number') return plainNumber(value);
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(print).join(', ')}]`;
  const entries = Object.entries(value as Record<string, unknown>);
  entries.sort(([a], [b]) => compareKeys(a, b));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}: ${print(v)}`).join(', ')}}`;
}

/** The shortest round-trip digits of `n`, with any exponent written out as zeros. */
export function plainNumber(n: number): string {
  const text = JSON.stringify(n);
  const e = text.indexOf('e');
  if (e === -1) return text;
  const negative = text.startsWith('-');
  const mantissa = text.slice(negative ? 1 : 0, e);
  const exponent = Number(text.slice(e + 1));
  const dot = mantissa.indexOf('.');
  const digits = mantissa.replace('.', '');
  const point = (dot === -1 ? mantissa.length : dot) + exponent;
  let plain: string;
  if (point <= 0) plain = `0.${'0'.repeat(-point)}${digits}`;
  else if (point >= digits.length) plain = digits + '0'.repeat(point - digits.length);
  else plain = `${digits.slice(0, point)}.${digits.slice(point)}`;
  return negative ? `-${plain}` : plain;
}

const utf8 = new TextEncoder();

function compareKeys(a: string, b: string): number {
  const ab = utf8.encode(a);
  const bb = utf8.encode(b);
  if (ab.length !== bb.length) return ab.length - bb.length;
  for (let i = 0; i < ab.length; i++) if (ab[i] !== bb[i]) return ab[i]! - bb[i]!;
  return 0;
}
