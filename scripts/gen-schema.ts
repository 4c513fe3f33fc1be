/**
 * Writes schema/snapkeeper.config.schema.json from the config schema, so editors can validate and complete
 * snapkeeper.config.json. Run with `npm run schema` after changing functions/core/config/schema.ts.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { configJsonSchema } from '#core/config/config.ts';

const target = new URL('../schema/snapkeeper.config.schema.json', import.meta.url);
await mkdir(new URL('.', target), { recursive: true });
await writeFile(target, `${JSON.stringify(configJsonSchema(), null, 2)}\n`);
console.log(`wrote ${fileURLToPath(target)}`);
