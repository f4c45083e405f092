/**
 * Stage 1's topic of data-written events. The lake names it too: runs written before run
 * numbering existed were fed by this topic (cold/open-lake-sink.ts).
 */
export const EVENT_TOPIC = 'data-written';
