"""Runs LocalStack for the snapkeeper test harness and takes it, and its DynamoDB Local JVM, down with the parent.

The Node harness starts this launcher as the leader of a new process group and owns it through a pipe on stdin.
LocalStack runs as a child in that group and starts DynamoDB Local (Java) as a child of its own, in a
session of its own (so a kill of the group misses it). When stdin reaches EOF (the harness stops it, or dies in
any way, SIGKILL included) or a SIGTERM/SIGINT/SIGHUP arrives, the launcher notes every descendant while the
process tree still links them, gives LocalStack SIGTERM and GRACE_S seconds, then SIGKILLs whatever of them is
left, because LocalStack's SIGTERM can hang and does not always stop the JVM.
"""

import os
import signal
import subprocess
import sys
import threading

import psutil  # a LocalStack dependency

GRACE_S = 5


def main() -> None:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda *_: stop.set())

    # LocalStack logs on stdout; the harness keeps the tail of stderr for its error messages.
    child = subprocess.Popen(
        [sys.executable, "-m", "localstack.runtime.main"], stdin=subprocess.DEVNULL, stdout=sys.stderr
    )

    def until_eof() -> None:
        while sys.stdin.buffer.read(65536):
            pass
        stop.set()

    def until_child_exits() -> None:
        code = child.wait()
        sys.stderr.write(f"snapkeeper launcher: LocalStack exited with {code}\n")
        stop.set()

    threading.Thread(target=until_eof, daemon=True).start()
    threading.Thread(target=until_child_exits, daemon=True).start()
    stop.wait()

    descendants = psutil.Process().children(recursive=True)
    if child.poll() is None:
        child.terminate()
        try:
            child.wait(GRACE_S)
        except subprocess.TimeoutExpired:
            pass
    for process in descendants:
        try:
            process.kill()  # psutil checks the pid still names the process it saw, so no stranger is hit
        except psutil.NoSuchProcess:
            pass
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
