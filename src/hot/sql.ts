/** Identifier quoting. Every identifier reaching SQL passes through here; every value is a parameter. */
export function ident(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

export function qualified(schema: string, table: string): string {
  return `${ident(schema)}.${ident(table)}`;
}
