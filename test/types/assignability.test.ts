/**
 * Types: every public etcd3 type remains assignable both ways. The fixture is
 * compiled with the TypeScript compiler API (the project's own compiler options);
 * only diagnostics in the fixture itself count (the rest of the tree is
 * `npm run typecheck`'s business).
 */
import { join } from 'node:path';
import ts from 'typescript';
import { describe, expect, test } from 'vitest';

const ROOT = join(__dirname, '..', '..');

let previous: ts.Program | undefined;

function diagnosticsOf(file: string, source?: string): string[] {
  const config = ts.getParsedCommandLineOfConfigFile(
    join(ROOT, 'tsconfig.json'),
    {},
    { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => undefined },
  );
  const options = { ...config!.options, noEmit: true };
  const host = ts.createCompilerHost(options);
  if (source !== undefined) {
    const read = host.getSourceFile.bind(host);
    host.getSourceFile = (name, lang, ...rest) =>
      name === file ? ts.createSourceFile(name, source, lang) : read(name, lang, ...rest);
    host.fileExists = (name => name === file || ts.sys.fileExists(name)) as typeof host.fileExists;
  }
  // Reusing the previous program keeps the second compile cheap.
  const program = ts.createProgram([file], options, host, previous);
  previous = program;
  return ts
    .getPreEmitDiagnostics(program)
    .filter(d => d.file?.fileName === file)
    .map(d => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
}

describe('etcd3 public types and ours are assignable both ways', () => {
  test('the fixture compiles without errors', () => {
    const fixture = join(__dirname, 'fixtures', 'assignability.ts').replace(/\\/g, '/');
    expect(diagnosticsOf(fixture)).toEqual([]);
  }, 60_000);

  test('the check is live: a wrong assignment in the same setting is reported', () => {
    const probe = join(__dirname, 'fixtures', 'probe.ts').replace(/\\/g, '/');
    const errors = diagnosticsOf(
      probe,
      "import * as etcd3 from 'etcd3';\nexport const x: etcd3.Lease = 42;\n",
    );
    expect(errors.join('\n')).toMatch(/not assignable to type 'Lease'/);
  }, 60_000);
});
