import type { Dataset, StorageWriter, WriteOptions, WriteResult } from '../core/index.ts';
import { normaliseFields } from '../core/index.ts';
import type { HotStore } from './hot-store.ts';

export interface RangeOptions<Row> {
  from?: string | Date;
  to?: string | Date;
  where?: Partial<Row>;
  limit?: number;
}

/**
 * The one generic repository: writes through the configured StorageWriter, reads from the hot
 * tier. Per-dataset repositories are this class with the dataset's row types filled in.
 */
export class Repository<Row, Input = Row> {
  constructor(
    readonly dataset: Dataset<Row, Input>,
    private readonly writer: StorageWriter,
    private readonly hot: HotStore,
  ) {}

  /** Inserts or updates rows by primary key. The batch is validated whole and written all or nothing. */
  upsert(rows: readonly Input[], options?: WriteOptions): Promise<WriteResult> {
    return this.writer.upsert(this.dataset, rows, options);
  }

  delete(keys: readonly Partial<Input>[], options?: WriteOptions): Promise<WriteResult> {
    return this.writer.delete(this.dataset, keys as Readonly<Record<string, unknown>>[], options);
  }

  async get(key: Partial<Input>): Promise<Row | undefined> {
    const onlyKey = Object.fromEntries(
      this.dataset.primaryKey.map((k) => [k, (key as Record<string, unknown>)[k]]),
    );
    const normal = normaliseFields(this.dataset, onlyKey, { required: this.dataset.primaryKey });
    return (await this.hot.get(this.dataset, normal)) as Row | undefined;
  }

  /** Rows with event time in [from, to), oldest first. */
  async range(options: RangeOptions<Input> = {}): Promise<Row[]> {
    const bounds = normaliseFields(this.dataset, {
      ...(options.from === undefined ? {} : { [this.dataset.eventTime]: options.from }),
    });
    const upper = normaliseFields(this.dataset, {
      ...(options.to === undefined ? {} : { [this.dataset.eventTime]: options.to }),
    });
    const rows = await this.hot.range(this.dataset, {
      from: bounds[this.dataset.eventTime] as string | undefined,
      to: upper[this.dataset.eventTime] as string | undefined,
      where: normaliseFields(this.dataset, (options.where ?? {}) as Record<string, unknown>),
      limit: options.limit,
    });
    return rows as Row[];
  }

  /** The `n` newest rows by event time. */
  async latest(n: number, where: Partial<Input> = {}): Promise<Row[]> {
    const filter = normaliseFields(this.dataset, where as Record<string, unknown>);
    return (await this.hot.latest(this.dataset, n, filter)) as Row[];
  }

  count(): Promise<number> {
    return this.hot.count(this.dataset);
  }
}
