#!/usr/bin/env node
// The client runs from its TypeScript sources: tsx compiles each module as it is imported, with
// the repository's compiler options (not whatever tsconfig.json the working directory has).
import { fileURLToPath } from 'node:url';
import { register } from 'tsx/esm/api';

register({ tsconfig: fileURLToPath(new URL('../../tsconfig.json', import.meta.url)) });
const { main } = await import('../src/main.ts');
process.exitCode = await main(process.argv.slice(2), {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
  cwd: process.cwd(),
  errTerminal: process.stderr.isTTY ? process.stderr : undefined,
});
