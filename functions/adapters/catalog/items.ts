import { AwsOperationError, CatalogItemError } from '#core/model/errors.ts';
import type { Generation } from '#core/model/generation.ts';
import { GenerationSchema, schemaProblems } from '#core/model/generation-schema.ts';
import { catalogKeys } from './layout.ts';

/** Generation records as DynamoDB items, both ways, and the catalog's errors. */

/** The whole item of a generation: its record, its key and the index keys the record calls for. */
export function generationItem(generation: Generation): Record<string, unknown> {
  const item: Record<string, unknown> = {
    ...catalogKeys.generation(generation.id),
    ...generation,
    ...catalogKeys.indexKeys(generation),
  };
  for (const key of Object.keys(item)) if (item[key] === undefined) delete item[key];
  return item;
}

/**
 * The generation an item stores, parsed at the boundary: a malformed item fails here, naming its key and its
 * problems, instead of somewhere deep in the core.
 */
export function toGeneration(item: Record<string, unknown>): Generation {
  const record = { ...item };
  for (const attribute of catalogKeys.keyAttributes) delete record[attribute];
  const parsed = GenerationSchema.safeParse(record);
  if (parsed.success) return parsed.data;
  throw new CatalogItemError(String(item.pk), schemaProblems(parsed.error, 'the item'));
}

/** An SDK error of `operation` as the project's `AwsOperationError`; one already translated passes unchanged. */
export function catalogError(operation: string, error: unknown): AwsOperationError {
  if (error instanceof AwsOperationError) return error;
  const detail = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return new AwsOperationError(`catalog: ${operation}`, detail, { cause: error });
}
