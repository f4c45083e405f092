/**
 * Column builders of the dataset DSL. A builder carries its JavaScript value type and its
 * nullability in the type system, so a dataset declaration yields a typed row without a second
 * description of the same columns.
 */

export type ColumnKind =
  'text' | 'int32' | 'int64' | 'float64' | 'decimal' | 'bool' | 'timestamp' | 'date' | 'json';

/** The JavaScript value of each kind, after normalisation (see core/time.ts for timestamps). */
export interface KindValue {
  text: string;
  int32: number;
  int64: bigint;
  float64: number;
  decimal: string;
  bool: boolean;
  timestamp: string;
  date: string;
  json: unknown;
}

/** What callers may pass for each kind; the validator turns it into the KindValue form. */
export interface KindInput {
  text: string;
  int32: number;
  int64: bigint | number;
  float64: number;
  decimal: string | number;
  bool: boolean;
  timestamp: string | Date;
  date: string | Date;
  json: unknown;
}

export interface ColumnSpec {
  readonly kind: ColumnKind;
  readonly nullable: boolean;
  /** text: maximum length in characters. */
  readonly maxLength?: number;
  /** decimal: total digits and digits after the point. */
  readonly precision?: number;
  readonly scale?: number;
  /** numeric kinds: inclusive bounds. */
  readonly min?: number;
  readonly max?: number;
  /** text: the allowed values. */
  readonly oneOf?: readonly string[];
  readonly description?: string;
}

export class ColumnBuilder<T, N extends boolean, I = T> {
  declare readonly __value: T;
  declare readonly __input: I;
  declare readonly __nullable: N;

  constructor(readonly spec: ColumnSpec) {}

  nullable(): ColumnBuilder<T, true, I> {
    return new ColumnBuilder<T, true, I>({ ...this.spec, nullable: true });
  }

  /** Inclusive lower bound for numeric columns (0 for volumes, prices, counts). */
  min(value: number): ColumnBuilder<T, N, I> {
    return new ColumnBuilder<T, N, I>({ ...this.spec, min: value });
  }

  max(value: number): ColumnBuilder<T, N, I> {
    return new ColumnBuilder<T, N, I>({ ...this.spec, max: value });
  }

  describe(description: string): ColumnBuilder<T, N, I> {
    return new ColumnBuilder<T, N, I>({ ...this.spec, description });
  }
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyColumn = ColumnBuilder<any, boolean, any>;

function column<K extends ColumnKind>(
  kind: K,
  extra: Partial<ColumnSpec> = {},
): ColumnBuilder<KindValue[K], false, KindInput[K]> {
  return new ColumnBuilder({ kind, nullable: false, ...extra });
}

export const t = {
  text: (options: { maxLength?: number; oneOf?: readonly string[] } = {}) => column('text', options),
  int32: () => column('int32'),
  int64: () => column('int64'),
  float64: () => column('float64'),
  decimal: (precision: number, scale: number) => column('decimal', { precision, scale }),
  bool: () => column('bool'),
  timestamp: () => column('timestamp'),
  date: () => column('date'),
  json: () => column('json'),
};

/** The text form of a column's type, as the JSON description and error messages show it. */
export function typeName(spec: ColumnSpec): string {
  switch (spec.kind) {
    case 'decimal':
      return `decimal(${spec.precision},${spec.scale})`;
    case 'text':
      return spec.maxLength === undefined ? 'text' : `text(${spec.maxLength})`;
    default:
      return spec.kind;
  }
}
