"""Runs moto's server, with the realism layer in front (realism.py), for the test harness and `snapkeeper sandbox`,
and dies with its parent.

Arguments: HOST [PORT]; PORT 0 (the default) binds a free port. The environment variable SNAPKEEPER_REALISM may
hold a JSON object of realism settings to start with (and to return to on every reset).

The Node side owns this process through a pipe on stdin. Whatever way the parent ends (normal teardown,
a crash, SIGKILL), the kernel closes that pipe, `read()` returns EOF here and the process exits, taking
moto's server thread with it. Nothing is forked, so nothing can be orphaned.

A free port is chosen here, by binding port 0, so there is no race between "find a free port" and "bind it".
The first line on stdout is JSON: {"event": "listening", "host": ..., "port": ..., "pid": ...}.
"""

import json
import logging
import os
import signal
import sys
import threading


def _exit_now(*_args: object) -> None:
    # os._exit skips interpreter shutdown, which would otherwise wait on werkzeug's request threads.
    os._exit(0)


def main() -> None:
    host = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1"
    port = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _exit_now)

    # Request lines cost CPU on every call and nobody reads them; keep warnings and errors for the stderr tail.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)

    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
    from werkzeug.serving import make_server

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto_patches import patch_dynamodb_atomicity, patch_images_from_snapshots, patch_transactions
    from realism import Realism, wrap
    from realism_models import patch_models
    from realism_settings import parse_settings

    patch_transactions()
    patch_dynamodb_atomicity()
    patch_images_from_snapshots()
    realism = Realism(parse_settings(json.loads(os.environ.get("SNAPKEEPER_REALISM") or "{}")))
    patch_models(realism)

    app = wrap(DomainDispatcherApplication(create_backend_app), realism, DEFAULT_ACCOUNT_ID)
    server = make_server(host, port, app, threaded=True)
    port = server.socket.getsockname()[1]
    # moto builds some URLs (queue URLs, template URLs) from MOTO_PORT, as its own `main()` sets it.
    os.environ["MOTO_PORT"] = str(port)

    thread = threading.Thread(target=server.serve_forever, name="moto-server", daemon=True)
    thread.start()

    sys.stdout.write(json.dumps({"event": "listening", "host": host, "port": port, "pid": os.getpid()}) + "\n")
    sys.stdout.flush()

    # Block until the parent closes our stdin (on purpose or by dying), then go.
    while sys.stdin.buffer.read(65536):
        pass
    _exit_now()


if __name__ == "__main__":
    main()
