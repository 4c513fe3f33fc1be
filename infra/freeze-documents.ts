import { readFileSync } from 'node:fs';
import { CfnDocument } from 'aws-cdk-lib/aws-ssm';
import { Construct } from 'constructs';
import { FREEZE_ID_PATTERN, LINUX_FREEZE_DOCUMENT } from '#adapters/ssm.ts';

/**
 * The Linux freeze, as one SSM Command document with `Action` Freeze or Thaw, for one freeze id. The work is
 * done by `linux-freeze.sh` beside this file (its header describes the state it keeps); the document copies
 * it to tmpfs (`/run`, never frozen) so the watchdog can run it again after the command ended. Design:
 * - Each freeze has its own id and takes the instance's freeze lock: a second freeze waits for the first to be
 *   thawed, until its own `NotAfter`, then refuses; so two schedules at the same minute never share a freeze.
 * - It arms its own watchdog (a systemd timer, or without systemd a detached process) **before** freezing
 *   anything, keyed by its id: the watchdog thaws exactly that freeze's filesystems after `TimeoutSeconds`.
 * - Right before each `fsfreeze` it checks again that its thaw has not come, that `NotAfter` has not passed and
 *   that its watchdog is not about to fire: a slow `sync` can never make it freeze what nothing will thaw.
 * - It freezes every EBS filesystem once (bind mounts and subvolumes share a device) except the one holding the
 *   SSM agent's state, which is synced only (the agent must write the result and receive the thaw there).
 * - It prints one `SNAPKEEPER_FROZEN <mountpoint> <device> <nvme-serial>` line per frozen filesystem (the mount
 *   point escaped as in /proc/mounts) and ends with `SNAPKEEPER_FREEZE_OK`. Any failure thaws what it froze.
 * - A thaw for id X waits for freeze X if it is still running, thaws X's filesystems only, and reports
 *   `SNAPKEEPER_THAWED held|watchdog|none`: whether it found X still frozen, or already ended by X's watchdog.
 * Parameters are constrained by `allowedPattern`, so nothing a caller passes can become shell code.
 */
const freezeShell = readFileSync(new URL('./linux-freeze.sh', import.meta.url), 'utf8');
const HEREDOC_END = 'SNAPKEEPER_FREEZE_SH';

const script = `set -u
ACTION='{{ Action }}'; FREEZE_ID='{{ FreezeId }}'; TIMEOUT='{{ TimeoutSeconds }}'; NOT_AFTER='{{ NotAfter }}'
STATE=\${SNAPKEEPER_STATE_DIR:-/run/snapkeeper-freeze}
mkdir -p "$STATE" && chmod 700 "$STATE" || exit 1
cat > "$STATE/freeze.sh.$$" <<'${HEREDOC_END}'
${freezeShell.trimEnd()}
${HEREDOC_END}
mv -f "$STATE/freeze.sh.$$" "$STATE/freeze.sh" || exit 1
exec /bin/sh "$STATE/freeze.sh" "$ACTION" "$FREEZE_ID" "$TIMEOUT" "$NOT_AFTER"
`;

/** snapkeeper's SSM documents, created only when a policy uses `filesystem` consistency. */
export class FreezeDocuments extends Construct {
  readonly linux: CfnDocument;

  constructor(scope: Construct, id: string) {
    super(scope, id);
    this.linux = new CfnDocument(this, 'LinuxFreeze', {
      // A fixed name: the scheduled-run Lambda and the CLI find it without configuration.
      name: LINUX_FREEZE_DOCUMENT,
      documentType: 'Command',
      documentFormat: 'JSON',
      updateMethod: 'NewVersion',
      content: {
        schemaVersion: '2.2',
        description:
          'snapkeeper: fsfreeze the EBS filesystems of this instance, with a watchdog that always thaws',
        parameters: {
          Action: { type: 'String', allowedValues: ['Freeze', 'Thaw'] },
          // Names the freeze's state directory and watchdog unit: letters, digits and '-' only.
          FreezeId: { type: 'String', allowedPattern: FREEZE_ID_PATTERN.source },
          TimeoutSeconds: { type: 'String', allowedPattern: '^[1-9][0-9]?$', default: '10' },
          NotAfter: { type: 'String', allowedPattern: '^[0-9T:.Z-]{20,24}$' },
        },
        mainSteps: [
          {
            action: 'aws:runShellScript',
            name: 'freeze',
            precondition: { StringEquals: ['platformType', 'Linux'] },
            inputs: { timeoutSeconds: '60', runCommand: script.split('\n') },
          },
        ],
      },
    });
  }
}

/** The document's script, `{{ }}` parameters unsubstituted: what the agent runs once SSM fills them in. */
export const linuxFreezeScript = script;
