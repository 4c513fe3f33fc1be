import { InputError } from '#core/model/errors.ts';
import { type FieldSpelling, RequestError } from '#core/recovery/request.ts';

/**
 * A runbook request's fields as the CLI's flags: `volumeId` is `--volume`. Fields are kebab-cased
 * (`volumeType` → `--volume-type`) unless `renames` says otherwise.
 */
export function flagSpelling(renames: Record<string, string>): FieldSpelling {
  return (field) => renames[field] ?? `--${field.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
}

/**
 * Runs a runbook from the CLI: a `RequestError` comes out with the request's fields spelled as the command's
 * flags, so the fix reads `--volume`, not `volumeId`. Exit status 2, as for every bad input.
 */
export async function withFlags<T>(spell: FieldSpelling, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof RequestError) throw new InputError(error.rendered(spell));
    throw error;
  }
}
