/** Why a value was refused. Returned, not thrown, so the hot loop allocates only on failure. */
export class Invalid {
  constructor(readonly reason: string) {}
}

const ZEROS = '0'.repeat(38);
const isDigit = (code: number) => code >= 48 && code <= 57;

/**
 * Scans decimal text once, by character codes: text already in normal form comes back as the
 * same string, other forms with at most one new string. Validation runs per value on the write
 * path, so it avoids regular expressions and intermediate strings.
 */
export function normaliseDecimalText(text: string, precision: number, scale: number): string | Invalid {
  const len = text.length;
  let i = 0;
  const first = text.charCodeAt(0);
  const negative = first === 45; /* - */
  if (negative || first === 43 /* + */) i = 1;
  const intStart = i;
  while (i < len && isDigit(text.charCodeAt(i))) i++;
  const intEnd = i;
  let fracStart = i;
  let fracEnd = i;
  if (i < len && text.charCodeAt(i) === 46 /* . */) {
    fracStart = ++i;
    while (i < len && isDigit(text.charCodeAt(i))) i++;
    fracEnd = i;
    if (fracEnd === fracStart) return new Invalid(`"${text}" is not a decimal number`);
  }
  if (intEnd === intStart || i !== len) return new Invalid(`"${text}" is not a decimal number`);
  let significant = intStart;
  while (significant < intEnd - 1 && text.charCodeAt(significant) === 48) significant++;
  // A lone leading zero ("0.5") is no integer digit: decimal(2,2) holds it.
  const integerDigits =
    intEnd - significant === 1 && text.charCodeAt(significant) === 48 ? 0 : intEnd - significant;
  if (integerDigits > precision - scale)
    return new Invalid(`${text} does not fit in decimal(${precision},${scale})`);
  let fracLen = fracEnd - fracStart;
  if (fracLen > scale) {
    for (let k = fracStart + scale; k < fracEnd; k++) {
      if (text.charCodeAt(k) !== 48) return new Invalid(`${text} has more than ${scale} decimal places`);
    }
    fracLen = scale;
  }
  let zero = true;
  for (let k = significant; k < fracStart + fracLen && zero; k++) {
    const c = text.charCodeAt(k);
    if (c !== 48 && c !== 46) zero = false;
  }
  const keepSign = negative && !zero;
  const unchangedHead = first !== 43 && significant === intStart && (!negative || keepSign);
  const pad = scale - fracLen;
  if (unchangedHead && fracEnd - fracStart === fracLen && (fracLen > 0 || scale === 0)) {
    return pad === 0 ? text : text + ZEROS.slice(0, pad);
  }
  const head = `${keepSign ? '-' : ''}${text.slice(significant, intEnd)}`;
  if (scale === 0) return head;
  return `${head}.${text.slice(fracStart, fracStart + fracLen)}${ZEROS.slice(0, pad)}`;
}

/**
 * Orders two normalised decimals of the same scale without parsing them: by sign, then by
 * length (no leading zeros, same number of fractional digits), then by text.
 */
export function compareDecimals(a: string, b: string): number {
  const negA = a.charCodeAt(0) === 45;
  const negB = b.charCodeAt(0) === 45;
  if (negA !== negB) return negA ? -1 : 1;
  const magnitude = a.length !== b.length ? a.length - b.length : a < b ? -1 : a > b ? 1 : 0;
  return negA ? -magnitude || 0 : magnitude;
}
