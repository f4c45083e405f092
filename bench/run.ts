/** `npm run bench -- <suite>`: runs one benchmark suite. */
const suites: Record<string, () => Promise<{ run(): Promise<void> }>> = {
  hot: () => import('./hot.ts'),
  log: () => import('./log.ts'),
  lake: () => import('./lake.ts'),
  dual: () => import('./dual.ts'),
  wal: () => import('./wal.ts'),
  'kafka-clients': () => import('./kafka-clients.ts'),
};

const name = process.argv[2];
if (!name || !(name in suites)) {
  console.error(`usage: npm run bench -- <suite>   (suites: ${Object.keys(suites).join(', ')})`);
  process.exitCode = 2;
} else {
  const suite = await suites[name]!();
  await suite.run();
}
