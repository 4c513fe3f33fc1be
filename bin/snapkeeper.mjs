#!/usr/bin/env node
// The snapkeeper command. It runs the TypeScript sources through tsx, so the repository needs no build step.
import { register } from 'tsx/esm/api';

register();
const { runCli } = await import('#cli/main.ts');
process.exitCode = await runCli(process.argv.slice(2), {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  columns: process.stdout.columns,
});
