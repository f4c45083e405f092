import type { Dataset } from '../core/index.ts';
import { ImportError } from '../core/index.ts';

/**
 * How source fields become dataset columns: `--map source=column` (a source may feed several
 * columns), `--set column=value` for constants. Source fields named like a column map to it
 * unless mapped elsewhere; any other source field is reported as ignored.
 */
export interface ColumnMapping {
  /** column name → source field */
  fromSource: Map<string, string>;
  /** column name → constant text */
  constants: Map<string, string>;
}

function pairs(specs: readonly string[], what: string): [string, string][] {
  return specs
    .flatMap((spec) => spec.split(','))
    .filter((s) => s.trim() !== '')
    .map((spec) => {
      const at = spec.indexOf('=');
      if (at <= 0) throw new ImportError(`${what} "${spec}" is not of the form name=value`);
      return [spec.slice(0, at).trim(), spec.slice(at + 1)];
    });
}

export function parseMapping(
  dataset: Dataset<unknown, unknown>,
  maps: readonly string[],
  sets: readonly string[],
): ColumnMapping {
  const columns = new Set(dataset.columns.map((c) => c.name));
  const fromSource = new Map<string, string>();
  for (const [source, target] of pairs(maps, '--map')) {
    const column = target.trim();
    if (!columns.has(column))
      throw new ImportError(`--map ${source}=${column}: "${column}" is not a column of ${dataset.name}`);
    fromSource.set(column, source);
  }
  const constants = new Map<string, string>();
  for (const [column, value] of pairs(sets, '--set')) {
    if (!columns.has(column))
      throw new ImportError(`--set ${column}: "${column}" is not a column of ${dataset.name}`);
    if (fromSource.has(column)) throw new ImportError(`column "${column}" is both mapped and set`);
    constants.set(column, value);
  }
  return { fromSource, constants };
}

/** Completes the mapping once the source's field names are known; returns the ignored fields. */
export function bindFields(
  dataset: Dataset<unknown, unknown>,
  mapping: ColumnMapping,
  fields: readonly string[],
): string[] {
  const available = new Set(fields);
  for (const [column, source] of mapping.fromSource) {
    if (!available.has(source))
      throw new ImportError(
        `--map ${source}=${column}: the source has no field "${source}" (it has ${fields.join(', ')})`,
      );
  }
  const mappedSources = new Set(mapping.fromSource.values());
  for (const col of dataset.columns) {
    if (
      !mapping.fromSource.has(col.name) &&
      !mapping.constants.has(col.name) &&
      available.has(col.name) &&
      !mappedSources.has(col.name)
    ) {
      mapping.fromSource.set(col.name, col.name);
    }
  }
  const used = new Set(mapping.fromSource.values());
  return fields.filter((f) => !used.has(f));
}
