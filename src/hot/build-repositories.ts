import type { StorageWriter } from '../core/index.ts';
import type { Dataset } from '../core/index.ts';
import { builtinDatasets } from '../datasets/index.ts';
import type { HotStore } from './hot-store.ts';
import type { Repositories } from './repositories.ts';
import { Repository } from './repository.ts';

/** The twelve typed repositories, writing through `writer` and reading from `hot`. */
export function buildRepositories(writer: StorageWriter, hot: HotStore): Repositories {
  return Object.fromEntries(
    Object.entries(builtinDatasets).map(([key, dataset]) => [
      key,
      new Repository(dataset as Dataset<unknown, unknown>, writer, hot),
    ]),
  ) as unknown as Repositories;
}
