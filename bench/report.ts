import { renderTable } from '../src/cli/table.ts';

export interface Figure {
  value: number;
  unit: string;
  /** The name of the figure this one is compared with, measured in the same run. */
  reference?: string;
}

/**
 * Prints a readable table, then one line of JSON: {"suite", "figures": {name: {value, unit,
 * reference, ratio}}}. Ratios are what count; absolute numbers vary with the machine.
 */
export function report(suite: string, figures: Record<string, Figure>, notes: string[] = []): void {
  const withRatios = Object.fromEntries(
    Object.entries(figures).map(([name, f]) => {
      const ref = f.reference ? figures[f.reference] : undefined;
      const ratio = ref ? round(f.value / ref.value, 3) : undefined;
      return [
        name,
        { value: round(f.value, 3), unit: f.unit, ...(f.reference ? { reference: f.reference, ratio } : {}) },
      ];
    }),
  );
  console.log();
  console.log(
    renderTable(
      ['figure', 'value', 'unit', 'reference', 'ratio'],
      Object.entries(withRatios).map(([name, f]) => [
        name,
        f.value,
        f.unit,
        'reference' in f ? f.reference : '',
        'ratio' in f ? (f.ratio ?? '') : '',
      ]),
    ),
  );
  for (const note of notes) console.log(note);
  console.log(JSON.stringify({ suite, figures: withRatios }));
}

function round(n: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}
