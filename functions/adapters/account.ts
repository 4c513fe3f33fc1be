import { GetCallerIdentityCommand, type STSClient } from '@aws-sdk/client-sts';
import type { Account } from '#core/backup/ports.ts';
import { ec2Call } from './ec2/snapshots.ts';

/**
 * The account of the credentials snapkeeper runs with, from STS `GetCallerIdentity` (which needs no IAM
 * permission), asked once per adapter: an account never changes under a running Lambda.
 */
export class StsAccount implements Account {
  private id: Promise<string> | undefined;

  constructor(private readonly sts: STSClient) {}

  accountId(): Promise<string> {
    this.id ??= ec2Call('GetCallerIdentity', async () => {
      const { Account: account } = await this.sts.send(new GetCallerIdentityCommand({}));
      if (!account) throw new Error('STS returned no account id');
      return account;
    }).catch((error: unknown) => {
      // A failure is not remembered: the next adoption asks again.
      this.id = undefined;
      throw error;
    });
    return this.id;
  }
}
