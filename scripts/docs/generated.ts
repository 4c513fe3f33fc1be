/**
 * Which parts of docs/ are generated from code, and from what. `npm run docs` (scripts/gen-docs.ts) writes
 * them; test/unit/docs/generated-docs.test.ts fails when a page no longer matches the code.
 */
import { configJsonSchema } from '#core/config/config.ts';
import { renderCliReference } from './cli-reference.ts';
import { renderConfigReference, type SchemaNode } from './config-reference.ts';
import { renderExampleConfig, renderValidationExample } from './examples.ts';

/** A region of a page (see regions.ts) and how to render it. */
export interface GeneratedRegion {
  /** The page, relative to the repository root. */
  page: string;
  region: string;
  render: () => Promise<string>;
}

export const GENERATED: readonly GeneratedRegion[] = [
  {
    page: 'docs/configuration.md',
    region: 'config-reference',
    render: async () => renderConfigReference(configJsonSchema() as SchemaNode),
  },
  { page: 'docs/configuration.md', region: 'example-config', render: renderExampleConfig },
  { page: 'docs/configuration.md', region: 'validation-example', render: renderValidationExample },
  { page: 'docs/cli.md', region: 'cli-reference', render: renderCliReference },
];
