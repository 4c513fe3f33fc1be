import {
  GetCommandInvocationCommand,
  InvocationDoesNotExist,
  paginateDescribeInstanceInformation,
  SendCommandCommand,
  type SSMClient,
} from '@aws-sdk/client-ssm';
import { ec2Call as awsCall } from '#adapters/ec2/snapshots.ts';
import type { AgentCommand, AgentCommandState, FreezeAgent } from '#core/backup/ports.ts';

/** snapkeeper's Linux freeze document, created by the stack under this name (infra/freeze-documents.ts). */
export const LINUX_FREEZE_DOCUMENT = 'snapkeeper-linux-fsfreeze';
/** What the Linux document accepts as a freeze id: it names a directory and a systemd unit on the instance. */
export const FREEZE_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9-]{0,95}$/;
/** The AWS-provided VSS document DLM uses: `Action` Freeze or Thaw; VSS itself ends a freeze after 10 s. */
export const WINDOWS_VSS_DOCUMENT = 'AWSEC2-ManageVssIO';

/** DescribeInstanceInformation takes at most 50 instance ids in one filter. */
const INSTANCE_FILTER_MAX = 50;
/** SendCommand's delivery timeout, in seconds; 30 is the least SSM accepts. The freeze's own `NotAfter` is what
 * really stops a late delivery from freezing. */
const DELIVERY_TIMEOUT_SECONDS = 30;

const FINAL_FAILURES = new Set([
  'Cancelled',
  'Cancelling',
  'TimedOut',
  'Failed',
  'Undeliverable',
  'Terminated',
]);

/** Freeze and thaw through SSM Run Command. */
export class SsmFreezeAgent implements FreezeAgent {
  constructor(
    private readonly ssm: SSMClient,
    private readonly linuxDocument: string = LINUX_FREEZE_DOCUMENT,
  ) {}

  async onlineAgents(instanceIds: readonly string[]): Promise<Set<string>> {
    const online = new Set<string>();
    for (let i = 0; i < instanceIds.length; i += INSTANCE_FILTER_MAX) {
      const Values = instanceIds.slice(i, i + INSTANCE_FILTER_MAX);
      await awsCall('DescribeInstanceInformation', async () => {
        const pages = paginateDescribeInstanceInformation(
          { client: this.ssm },
          { Filters: [{ Key: 'InstanceIds', Values }] },
        );
        for await (const page of pages) {
          for (const info of page.InstanceInformationList ?? []) {
            // `ConnectionLost` and `Inactive` agents would take the command and never run it in time.
            if (info.InstanceId && info.PingStatus === 'Online') online.add(info.InstanceId);
          }
        }
      });
    }
    return online;
  }

  send(command: AgentCommand): Promise<string> {
    const { DocumentName, Parameters } = this.document(command);
    return awsCall('SendCommand', async () => {
      const response = await this.ssm.send(
        new SendCommandCommand({
          InstanceIds: [command.instanceId],
          DocumentName,
          Parameters,
          TimeoutSeconds: DELIVERY_TIMEOUT_SECONDS,
          Comment: `snapkeeper ${command.action}`,
        }),
      );
      const commandId = response.Command?.CommandId;
      if (!commandId) throw new Error('SendCommand returned no command id');
      return commandId;
    });
  }

  async status(commandId: string, instanceId: string): Promise<AgentCommandState> {
    try {
      const invocation = await this.ssm.send(
        new GetCommandInvocationCommand({ CommandId: commandId, InstanceId: instanceId }),
      );
      const status = invocation.Status ?? 'Pending';
      if (status === 'Success') return { state: 'succeeded', output: invocation.StandardOutputContent ?? '' };
      if (FINAL_FAILURES.has(status)) {
        const detail = [invocation.StatusDetails, invocation.StandardErrorContent?.trim()].filter(Boolean);
        return { state: 'failed', reason: `${status}${detail.length > 0 ? `: ${detail.join('; ')}` : ''}` };
      }
      return { state: 'pending' };
    } catch (error) {
      // SSM answers InvocationDoesNotExist for a moment after SendCommand, until the invocation is registered.
      if (error instanceof InvocationDoesNotExist) return { state: 'pending' };
      return awsCall('GetCommandInvocation', () => Promise.reject(error));
    }
  }

  private document(command: AgentCommand): { DocumentName: string; Parameters: Record<string, string[]> } {
    const freeze = command.action === 'freeze';
    if (command.mode === 'script') {
      if (!command.scriptDocument) throw new Error('script mode without a document');
      // The parameter DLM passes to pre and post scripts, so a document written for DLM works unchanged.
      return {
        DocumentName: command.scriptDocument,
        Parameters: { command: [freeze ? 'pre-script' : 'post-script'] },
      };
    }
    if (command.windows) {
      return { DocumentName: WINDOWS_VSS_DOCUMENT, Parameters: { Action: [freeze ? 'Freeze' : 'Thaw'] } };
    }
    if (!FREEZE_ID_PATTERN.test(command.freezeId)) {
      throw new Error(`freeze id ${JSON.stringify(command.freezeId)} does not match ${FREEZE_ID_PATTERN}`);
    }
    return {
      DocumentName: this.linuxDocument,
      Parameters: {
        Action: [freeze ? 'Freeze' : 'Thaw'],
        FreezeId: [command.freezeId],
        TimeoutSeconds: [String(command.timeoutSeconds)],
        NotAfter: [command.notAfter],
      },
    };
  }
}
