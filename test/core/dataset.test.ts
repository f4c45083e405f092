import { describe, expect, it } from 'vitest';
import {
  SchemaDefinitionError,
  arrowSchema,
  compileValidator,
  defineDataset,
  describeDataset,
  t,
} from '../../src/core/index.ts';
import { allDatasets, findDataset, marketData } from '../../src/datasets/index.ts';
import { createTableSql } from '../../src/hot/ddl.ts';

describe('dataset declarations', () => {
  it('ships twelve datasets with distinct names', () => {
    expect(allDatasets).toHaveLength(12);
    expect(new Set(allDatasets.map((d) => d.name)).size).toBe(12);
  });

  it.each(allDatasets.map((d) => [d.name, d] as const))(
    '%s yields DDL, validator, Arrow schema and description',
    (_name, dataset) => {
      const ddl = createTableSql(dataset, 'app').join(';\n');
      for (const col of dataset.columns) expect(ddl).toContain(`"${col.name}"`);
      expect(ddl).toContain(`PRIMARY KEY (${dataset.primaryKey.map((k) => `"${k}"`).join(', ')})`);

      const schema = arrowSchema(dataset);
      expect(schema.fields.map((f) => f.name)).toEqual(dataset.columns.map((c) => c.name));
      expect(schema.fields.map((f) => f.nullable)).toEqual(dataset.columns.map((c) => c.nullable));
      expect(schema.metadata.get('tierflow:dataset')).toBe(dataset.name);

      const description = describeDataset(dataset);
      expect(description.version).toBeGreaterThanOrEqual(1);
      expect(description.fingerprint).toMatch(/^[0-9a-f]{64}$/);
      expect(describeDataset(dataset)).toEqual(description);
      expect(JSON.parse(JSON.stringify(description))).toEqual(description);

      expect(() => compileValidator(dataset)([{}])).toThrow(/row 0/);
    },
  );

  it('maps column kinds to PostgreSQL and Arrow types', () => {
    const ddl = createTableSql(marketData, 's')[0]!;
    expect(ddl).toContain('"bucket_start" timestamptz NOT NULL');
    expect(ddl).toContain('"open" numeric(18,6) NOT NULL');
    expect(ddl).toContain('"volume" bigint,');
    const fields = Object.fromEntries(arrowSchema(marketData).fields.map((f) => [f.name, f]));
    expect(String(fields.bucket_start!.type)).toBe('Timestamp<MICROSECOND, UTC>');
    expect(fields.open!.type).toMatchObject({ precision: 18, scale: 6 });
    expect(String(fields.volume!.type)).toBe('Int64');
  });

  it('finds datasets by name and names the unknown ones', () => {
    expect(findDataset('trades').name).toBe('trades');
    expect(() => findDataset('quotes')).toThrow(/unknown dataset "quotes"/);
  });

  it('refuses inconsistent declarations', () => {
    const base = {
      name: 'x',
      version: 1,
      description: '',
      columns: { id: t.int32(), at: t.timestamp() },
      eventTime: 'at' as const,
    };
    expect(() => defineDataset({ ...base, primaryKey: [] })).toThrow(SchemaDefinitionError);
    expect(() => defineDataset({ ...base, primaryKey: ['nope' as 'id'] })).toThrow(/not declared/);
    expect(() =>
      defineDataset({
        ...base,
        columns: { id: t.int32().nullable(), at: t.timestamp() },
        primaryKey: ['id'],
      }),
    ).toThrow(/cannot be nullable/);
    expect(() =>
      defineDataset({ ...base, columns: { id: t.int32(), at: t.date() }, primaryKey: ['id'] }),
    ).toThrow(/event-time/);
    expect(() => defineDataset({ ...base, name: 'Bad Name', primaryKey: ['id'] })).toThrow(/identifier/);
    expect(() =>
      defineDataset({ ...base, columns: { ...base.columns, day: t.date() }, primaryKey: ['id'] }),
    ).toThrow(/"day" is reserved for the lake's partition directories/);
  });

  it('changes the fingerprint when the stored shape changes', () => {
    const make = (nullable: boolean) =>
      defineDataset({
        name: 'x',
        version: 1,
        description: '',
        columns: { id: t.int32(), at: t.timestamp(), note: nullable ? t.text().nullable() : t.text() },
        primaryKey: ['id'],
        eventTime: 'at',
      });
    expect(describeDataset(make(true)).fingerprint).not.toBe(describeDataset(make(false)).fingerprint);
  });
});
