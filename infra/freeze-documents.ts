import { CfnDocument } from 'aws-cdk-lib/aws-ssm';
import { Construct } from 'constructs';
import { LINUX_FREEZE_DOCUMENT } from '#adapters/ssm.ts';
import { FREEZE_REPORT } from '#core/backup/freeze-report.ts';

/**
 * The Linux freeze, as one SSM Command document with `Action` Freeze or Thaw. Design:
 * - The freeze arms its watchdog **before** freezing anything: a systemd timer (or, without systemd, a detached
 *   process) that runs the thaw after `TimeoutSeconds`, from a script kept on tmpfs (`/run`), which is never
 *   frozen. Whatever happens to the Lambda, SSM or this script afterwards, the filesystems thaw.
 * - It refuses to run after `NotAfter`, so a freeze that SSM delivers late (after the orchestrator gave up and
 *   sent its thaw) never freezes anything.
 * - It syncs, then freezes every mounted filesystem on an EBS volume except the one holding the SSM agent's
 *   state (`/var/lib/amazon/ssm`, usually the root filesystem): the agent must write the command's result
 *   there and receive the thaw, so freezing it would wait for the watchdog every time. That filesystem is
 *   synced, not frozen, and the orchestrator records its volume as crash-consistent.
 * - It prints one `SNAPKEEPER_FROZEN <mountpoint> <device> <nvme-serial>` line per frozen filesystem and ends
 *   with `SNAPKEEPER_FREEZE_OK`; the orchestrator records `filesystem` only for the volumes named.
 * - Any failure thaws what it froze and exits non-zero. Thaw is idempotent and disarms the watchdog.
 * Parameters are constrained by `allowedPattern`, so nothing a caller passes can become shell code.
 */
const script = `set -u
ACTION='{{ Action }}'; TIMEOUT='{{ TimeoutSeconds }}'; NOT_AFTER='{{ NotAfter }}'
STATE=/run/snapkeeper-freeze; LIST="$STATE/frozen"; UNIT=snapkeeper-thaw
mkdir -p "$STATE"
cat > "$STATE/thaw.sh" <<'THAW'
#!/bin/sh
LIST=/run/snapkeeper-freeze/frozen
[ -f "$LIST" ] && tac "$LIST" | while read -r m; do fsfreeze -u "$m" 2>/dev/null; done
rm -f "$LIST"
THAW
chmod 700 "$STATE/thaw.sh"
disarm() { systemctl stop "$UNIT.timer" 2>/dev/null; [ -f "$STATE/watchdog.pid" ] && kill "$(cat "$STATE/watchdog.pid")" 2>/dev/null; rm -f "$STATE/watchdog.pid"; }
if [ "$ACTION" = Thaw ]; then "$STATE/thaw.sh"; disarm; echo SNAPKEEPER_THAW_OK; exit 0; fi
if [ "$(date -u +%s)" -gt "$(date -u -d "$NOT_AFTER" +%s)" ]; then echo "arrived after NotAfter $NOT_AFTER; not freezing" >&2; exit 1; fi
if [ -s "$LIST" ]; then echo 'a freeze is already active' >&2; exit 1; fi
: > "$LIST"
if command -v systemd-run >/dev/null 2>&1; then
  systemctl stop "$UNIT.timer" 2>/dev/null; systemctl reset-failed "$UNIT.service" 2>/dev/null
  systemd-run --quiet --unit="$UNIT" --on-active="$TIMEOUT" "$STATE/thaw.sh" || { echo 'cannot arm the watchdog' >&2; exit 1; }
else
  setsid nohup sh -c "sleep $TIMEOUT; $STATE/thaw.sh" >/dev/null 2>&1 & echo $! > "$STATE/watchdog.pid"
fi
AGENT_FS=$(findmnt -n -o TARGET --target /var/lib/amazon/ssm)
sync
findmnt -rn -o TARGET,SOURCE,FSTYPE | while read -r target source fstype; do
  case "$source" in /dev/*) ;; *) continue ;; esac
  case "$fstype" in ext2|ext3|ext4|xfs|btrfs) ;; *) continue ;; esac
  [ "$target" = "$AGENT_FS" ] && continue
  disk=$(lsblk -ndo PKNAME "$source" 2>/dev/null); [ -n "$disk" ] || disk=$(basename "$source")
  serial=$(lsblk -ndo SERIAL "/dev/$disk" 2>/dev/null | tr -d ' '); [ -n "$serial" ] || serial=-
  case "$serial:$disk" in vol*|*:xvd*|*:sd*) ;; *) continue ;; esac
  echo "$target" >> "$LIST"
  if ! fsfreeze -f "$target"; then echo "fsfreeze failed on $target" >&2; "$STATE/thaw.sh"; disarm; exit 1; fi
  echo "${FREEZE_REPORT.frozen} $target $source $serial"
done
[ -f "$LIST" ] || exit 1
echo ${FREEZE_REPORT.ok}
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

/** The script, for tests that check its syntax. */
export const linuxFreezeScript = script;
