# snapkeeper's Linux freeze. The SSM document snapkeeper-linux-fsfreeze (infra/freeze-documents.ts) copies this
# file to $STATE/freeze.sh and runs `freeze.sh Freeze|Thaw ID TIMEOUT NOT_AFTER`; the watchdog runs it again as
# `freeze.sh Watchdog ID DELAY`. POSIX sh (dash or bash), GNU date, util-linux flock, fsfreeze, findmnt, lsblk.
#
# Every freeze has its own id and state directory $STATE/ID:
#   started/  the freeze took the instance lock (mkdir: a duplicate delivery of the same id finds it and stops)
#   thawed    its thaw (or its watchdog) came: a freeze that finds it never freezes another filesystem
#   frozen    the mount points it froze, each listed before its fsfreeze, so a thaw always knows them
#   ended     how its freeze ended: thaw (its thaw found it held), watchdog, or self (it failed and thawed)
# The instance lock is two things: flock on $STATE/lock for every step that reads or changes the state, held by a
# freeze for its whole run (sync and fsfreeze included), and the lease $STATE/active ("ID WATCHDOG_AT_MS"), kept
# from the freeze until its thaw or its watchdog, so a second freeze waits for the first to end instead of
# freezing the same filesystems, and no thaw or watchdog touches another freeze's filesystems.
set -u
ACTION=$1
ID=$2
TIMEOUT=$3
NOT_AFTER=${4:-}
STATE=${SNAPKEEPER_STATE_DIR:-/run/snapkeeper-freeze}
AGENT_DIR=${SNAPKEEPER_AGENT_DIR:-/var/lib/amazon/ssm}
# Exists when systemd is PID 1 (what sd_booted checks). The SNAPKEEPER_* overrides are for tests; SSM sets none.
SYSTEMD_DIR=${SNAPKEEPER_SYSTEMD_DIR:-/run/systemd/system}
DIR=$STATE/$ID
# No fsfreeze starts later than this before the watchdog fires, so none can end after it (fsfreeze syncs the
# filesystem first; with little dirty data that takes milliseconds). Small enough for TimeoutSeconds 1.
GUARD_MS=500
# A lease this long past its watchdog's time means the watchdog died; the next freeze ends it instead.
STALE_MS=5000

fail() {
  printf 'snapkeeper freeze %s: %s\n' "$ID" "$*" >&2
  exit 1
}
case "$ID" in '' | *[!A-Za-z0-9-]*) fail "invalid freeze id (letters, digits and '-' only)" ;; esac
case "$TIMEOUT" in '' | *[!0-9]*) fail "invalid TimeoutSeconds '$TIMEOUT' (a whole number of seconds)" ;; esac
now_ms() { date -u +%s%3N; }
# Mount points as /proc/self/mountinfo writes them, `\040` for a space: one word that is safe to print and list
# (with printf: dash's echo would decode the escapes).
unescape() { printf '%b' "$(printf '%s' "$1" | sed 's/\\\([0-7][0-7][0-7]\)/\\0\1/g')"; }
seconds() { echo "$(($1 / 1000)).$(printf %03d $(($1 % 1000)))"; }
mkdir -p "$STATE" && exec 9>>"$STATE/lock" || fail "cannot open the lock $STATE/lock"

release_lease() {
  [ "$(cut -d' ' -f1 "$STATE/active" 2>/dev/null)" = "$ID" ] && rm -f "$STATE/active"
  return 0
}
disarm() {
  if [ "$(cat "$DIR/watchdog" 2>/dev/null)" = systemd ]; then
    systemctl stop "snapkeeper-thaw-$ID.timer" 2>/dev/null
  elif [ -s "$DIR/watchdog.pid" ]; then
    pid=$(cat "$DIR/watchdog.pid")
    # Only if that pid is still this freeze's watchdog (pids are reused). It leads its own process group
    # (setsid), so this ends its sleep too. Were it missed, it would find its freeze ended and do nothing.
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "freeze.sh Watchdog $ID " && kill -TERM "-$pid" 2>/dev/null
  fi
  return 0
}
thaw_list() {
  [ -f "$DIR/frozen" ] && tac "$DIR/frozen" | while IFS= read -r m; do fsfreeze -u "$(unescape "$m")" 2>/dev/null; done
  rm -f "$DIR/frozen"
}
# With the flock held: ends this id's freeze, if it still holds its filesystems. $1: thaw or watchdog.
end_freeze() {
  [ -d "$DIR/started" ] && [ ! -e "$DIR/ended" ] || return 0
  thaw_list
  echo "$1" >"$DIR/ended"
  [ "$1" = watchdog ] || disarm
  release_lease
}
# The freeze's own way out after it took the lease: thaw what it froze, then report.
abort() {
  thaw_list
  echo self >"$DIR/ended"
  disarm
  release_lease
  fail "$@"
}

arm() {
  if [ -d "$SYSTEMD_DIR" ] && command -v systemd-run >/dev/null 2>&1; then
    systemctl stop "snapkeeper-thaw-$ID.timer" 2>/dev/null
    systemd-run --quiet --unit="snapkeeper-thaw-$ID" --on-active="$TIMEOUT" \
      /bin/sh "$STATE/freeze.sh" Watchdog "$ID" 0 </dev/null >/dev/null 2>&1 9>&- || return 1
    echo systemd >"$DIR/watchdog"
    return 0
  fi
  # No systemd: a detached process. It must not inherit fd 9, or it would hold the flock for its whole sleep.
  setsid /bin/sh "$STATE/freeze.sh" Watchdog "$ID" "$TIMEOUT" </dev/null >/dev/null 2>&1 9>&- &
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    [ -s "$DIR/watchdog.pid" ] && return 0
    sleep 0.1
  done
  return 1
}

# The instance's EBS filesystems, one line each: MAJ:MIN FSTYPE SOURCE MOUNTPOINT (escaped).
ebs_filesystems() {
  agent=$(findmnt -n -o MAJ:MIN --target "$AGENT_DIR" 2>/dev/null || findmnt -n -o MAJ:MIN --target /)
  agent=$(echo $agent)
  seen=' '
  sed -n 's/^[0-9]* [0-9]* \([0-9]*:[0-9]*\) [^ ]* \([^ ]*\) .* - \([^ ]*\) \([^ ]*\) [^ ]*$/\1 \3 \4 \2/p' \
    /proc/self/mountinfo | while read -r majmin fstype source target; do
    case "$source" in /dev/*) ;; *) continue ;; esac
    case "$fstype" in ext2 | ext3 | ext4 | xfs | btrfs) ;; *) continue ;; esac
    # The agent writes the result and receives the thaw there: that filesystem is synced, never frozen.
    [ "$majmin" = "$agent" ] && continue
    # A bind mount or a second btrfs subvolume is the same filesystem: freezing it twice fails with EBUSY.
    case "$seen" in *" $majmin "* | *" $source "*) continue ;; esac
    seen="$seen$majmin $source "
    disk=$(lsblk -ndo PKNAME "$source" 2>/dev/null)
    [ -n "$disk" ] || disk=$(basename "$source")
    serial=$(lsblk -ndo SERIAL "/dev/$disk" 2>/dev/null | tr -d ' ')
    [ -n "$serial" ] || serial=-
    case "$serial:$disk" in vol* | *:xvd* | *:sd*) printf '%s\n' "$majmin $fstype $source $target $serial" ;; esac
  done
}

# Waits for the lease until NotAfter, holding the flock once it has it.
take_lease() {
  holder=''
  while :; do
    left=$((not_after - $(now_ms)))
    [ "$left" -gt 0 ] || fail "${holder:+freeze }${holder:-another freeze} still holds this instance's freeze lock" \
      "at NotAfter $NOT_AFTER; not freezing (that freeze ends at its thaw or its watchdog, within its TimeoutSeconds)"
    flock -w "$(seconds "$left")" 9 || continue
    [ -s "$STATE/active" ] || return 0
    read -r holder holder_until <"$STATE/active"
    if [ "$(now_ms)" -gt $((holder_until + STALE_MS)) ]; then
      echo "snapkeeper freeze $ID: freeze $holder outlived its watchdog; thawing it" >&2
      (ID=$holder DIR=$STATE/$holder && end_freeze watchdog)
      rm -f "$STATE/active"
      return 0
    fi
    flock -u 9
    [ -e "$DIR/thawed" ] && fail "its thaw came while it waited for freeze $holder; not freezing"
    sleep 0.2
  done
}

freeze() {
  not_after=$(date -u -d "$NOT_AFTER" +%s%3N 2>/dev/null) || fail "NotAfter '$NOT_AFTER' is not a time"
  [ "$(now_ms)" -lt "$not_after" ] || fail "arrived after NotAfter $NOT_AFTER; not freezing"
  mkdir -p "$DIR"
  [ -e "$DIR/thawed" ] && fail "its thaw already came; not freezing"
  [ -d "$DIR/started" ] && fail "it already ran on this instance (a duplicate delivery); not freezing again"
  take_lease
  find "$STATE" -mindepth 1 -maxdepth 1 -type d -mmin +1440 -exec rm -rf {} + 2>/dev/null
  mkdir "$DIR/started" 2>/dev/null || fail "it already ran on this instance (a duplicate delivery); not freezing again"
  # After `started` exists: a thaw that wrote `thawed` before this line is seen here; one after it sees `started`.
  [ -e "$DIR/thawed" ] && abort "its thaw already came; not freezing"
  watchdog_at=$(($(now_ms) + TIMEOUT * 1000))
  echo "$ID $watchdog_at" >"$STATE/active.$$" && mv "$STATE/active.$$" "$STATE/active"
  : >"$DIR/frozen"
  arm || abort "cannot arm the watchdog; not freezing"
  sync
  ebs_filesystems >"$DIR/mounts"
  while read -r majmin fstype source target serial; do
    # Decided again right before each fsfreeze: the thaw may have come during the sync or the last fsfreeze.
    [ -e "$DIR/thawed" ] && abort "its thaw (or watchdog) came before $target was frozen; everything thawed"
    now=$(now_ms)
    [ "$now" -lt "$not_after" ] || abort "NotAfter $NOT_AFTER passed before $target was frozen; everything thawed"
    [ $((now + GUARD_MS)) -lt "$watchdog_at" ] ||
      abort "its watchdog fires before $target could be frozen; everything thawed"
    printf '%s\n' "$target" >>"$DIR/frozen"
    if ! fsfreeze -f "$(unescape "$target")"; then
      sed -i '$d' "$DIR/frozen" # not frozen by this freeze: not thawed by it either
      abort "fsfreeze failed on $target ($fstype $majmin); everything it froze is thawed"
    fi
    printf '%s\n' "SNAPKEEPER_FROZEN $target $source $serial"
  done <"$DIR/mounts"
  [ -e "$DIR/thawed" ] && abort "its thaw came while it was freezing; everything thawed"
  echo SNAPKEEPER_FREEZE_OK
}

thaw() {
  mkdir -p "$DIR" && : >"$DIR/thawed"
  if [ -d "$DIR/started" ]; then
    # Waits for a freeze still running (it holds the flock); it stops before its next fsfreeze anyway.
    left=$(($(date -u -d "$NOT_AFTER" +%s%3N 2>/dev/null || now_ms) - $(now_ms)))
    [ "$left" -gt 1000 ] || left=1000
    flock -w "$(seconds "$left")" 9 || fail "still freezing after $(seconds "$left") s; it thaws itself before" \
      "its next fsfreeze, and its watchdog stays armed"
    end_freeze thaw
  fi
  case "$(cat "$DIR/ended" 2>/dev/null)" in thaw) how=held ;; watchdog) how=watchdog ;; *) how=none ;; esac
  echo "SNAPKEEPER_THAWED $how"
  echo SNAPKEEPER_THAW_OK
}

watchdog() {
  echo $$ >"$DIR/watchdog.pid"
  sleep "$TIMEOUT"
  : >"$DIR/thawed"
  flock 9 && end_freeze watchdog
}

case "$ACTION" in
Freeze) freeze ;;
Thaw) thaw ;;
Watchdog) watchdog ;;
*) fail "unknown action '$ACTION'" ;;
esac
