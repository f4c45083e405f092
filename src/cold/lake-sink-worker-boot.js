// A worker thread does not inherit the tsx loader of the thread that started it: register it here,
// then run the TypeScript worker.
import { register } from 'tsx/esm/api';

register();
await import('./lake-sink-worker.ts');
