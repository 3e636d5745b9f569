import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { MIGRATIONS_DIR, splitStatements } from '../../adapters/projections/migrator.ts';

describe('splitStatements', () => {
  it('splits on top-level semicolons only', () => {
    const script = [
      '-- a comment; with a semicolon',
      "CREATE TABLE t (a text DEFAULT 'x;y');",
      '/* block; comment */',
      'CREATE FUNCTION f() RETURNS int AS $body$ SELECT 1; $body$ LANGUAGE sql;',
      "COMMENT ON TABLE t IS 'it''s; fine';",
      'SELECT "odd;name" FROM t',
      '-- trailing comment only;',
    ].join('\n');
    expect(splitStatements(script)).toEqual([
      "-- a comment; with a semicolon\nCREATE TABLE t (a text DEFAULT 'x;y')",
      '/* block; comment */\nCREATE FUNCTION f() RETURNS int AS $body$ SELECT 1; $body$ LANGUAGE sql',
      "COMMENT ON TABLE t IS 'it''s; fine'",
      'SELECT "odd;name" FROM t\n-- trailing comment only;',
    ]);
  });

  it('drops empty and comment-only pieces', () => {
    expect(splitStatements(';\n -- nothing;\n;  ')).toEqual([]);
  });
});

describe('migration files', () => {
  it('are numbered without gaps and named as the migrator expects', () => {
    const files = readdirSync(MIGRATIONS_DIR).sort();
    expect(files.length).toBeGreaterThan(0);
    files.forEach((file, i) =>
      expect(file).toMatch(new RegExp(`^${String(i + 1).padStart(4, '0')}_[a-z0-9_]+\\.sql$`)),
    );
  });
});
