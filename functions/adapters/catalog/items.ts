import { AwsOperationError } from '#core/model/errors.ts';
import type { Generation } from '#core/model/generation.ts';
import { GenerationSchema } from '#core/model/generation-schema.ts';
import { catalogKeys } from './layout.ts';

/** Generation records as DynamoDB items, both ways, and the catalog's errors. */

/** A catalog item that is not a generation record this version can read. */
export class CatalogItemError extends AwsOperationError {
  constructor(
    readonly key: string,
    problems: string,
  ) {
    super(
      'catalog: read generation',
      `item ${key} is not a valid generation record (${problems}); restore the item from point-in-time recovery or delete it and run snapkeeper rebuild-catalog`,
    );
  }
}

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
  const problems = parsed.error.issues
    .map((issue) => `${issue.path.join('.') || 'the item'}: ${issue.message}`)
    .join('; ');
  throw new CatalogItemError(String(item.pk), problems);
}

/** An SDK error of `operation` as the project's `AwsOperationError`; one already translated passes unchanged. */
export function catalogError(operation: string, error: unknown): AwsOperationError {
  if (error instanceof AwsOperationError) return error;
  const detail = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return new AwsOperationError(`catalog: ${operation}`, detail, { cause: error });
}
