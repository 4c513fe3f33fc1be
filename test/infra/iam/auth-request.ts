import type { PermissionCall } from '../../harness/permission-recorder.ts';

/** The account the emulator runs as, and the one the contract test resolves `AWS::AccountId` to. */
export const ACCOUNT = '123456789012';

/**
 * One authorization IAM makes for a call: an action on a resource, with the condition keys the request
 * carries. A call can need several (a copy is authorized on its source and on the copy it creates).
 */
export interface AuthRequest {
  /** `ec2:CreateSnapshot`. */
  action: string;
  /** The resource's ARN, or `*` for actions without resource-level permissions. */
  resource: string;
  /** Condition keys and their values in this request. */
  context: Record<string, string[]>;
  /**
   * Keys (or key prefixes ending in `/`) the context is complete for: a known key absent from the context is
   * absent from the request. A condition on a key not known here cannot be checked, and fails the test.
   */
  known: string[];
  /** Why the request need not be allowed: the resource it acts on does not exist, so the call fails anyway. */
  moot?: string;
}

/** Raised for a call the model below does not know: add the action here rather than leave it unchecked. */
export class UnmodelledCallError extends Error {
  override readonly name = 'UnmodelledCallError';
}

export function unmodelled(call: PermissionCall): UnmodelledCallError {
  return new UnmodelledCallError(
    `no IAM model for ${call.service}:${call.action} (called by ${call.function}); add it to test/infra/iam/`,
  );
}

export const simple = (action: string, resource: string, context: Record<string, string[]> = {}) => ({
  action,
  resource,
  context,
  known: Object.keys(context),
});
