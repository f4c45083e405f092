import { allDatasets } from '../src/datasets/index.ts';
import { openLakeQuery } from '../src/lake/duckdb-lake.ts';

/** How many market_data rows the lake at `root` holds. */
export async function lakeMarketDataRows(root: string): Promise<number> {
  await using lake = await openLakeQuery(root, allDatasets);
  return Number((await lake.query('SELECT count(*) AS n FROM market_data'))[0]!.n);
}
