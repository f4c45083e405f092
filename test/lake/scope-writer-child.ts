/**
 * A lake writer of one scope in a process of its own, for scopes.test.ts: writes `batches`
 * batches of `size` bars on `day` into scope `partition`, printing "committed <last position>"
 * after each commit, until it is killed.
 */
import { marketData } from '../../src/datasets/index.ts';
import { LakeWriter } from '../../src/lake/lake-writer.ts';
import { bars } from './fixtures.ts';

const [root, partition, batches, size, day] = process.argv.slice(2);
const writer = await LakeWriter.open(root!, { partition: Number(partition) });
console.log('ready');
for (let b = 0; b < Number(batches); b++) {
  const commit = await writer.write(marketData, bars(b * Number(size), Number(size), day));
  console.log(`committed ${commit.files.at(-1)?.lastPosition ?? ''}`);
}
await writer.close();
console.log('done');
