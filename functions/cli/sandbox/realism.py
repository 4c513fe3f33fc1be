"""The realistic emulator: AWS behaviours moto lacks, on the emulator's side of the wire.

A WSGI layer in front of moto's app (same process, same port) plus patches of moto's models
(realism_models.py), so that every client, in any process, sees them: the CLI, aws-cli, bundled Lambda code,
the tests. What it adds, beyond the model patches:

- EC2 token buckets (`throttle` setting): one bucket per entry and Region, shared by every client, answering
  `RequestLimitExceeded` (HTTP 503) when empty.
- A simulated SSM agent on every running instance (realism_agents.py).
- The control endpoint: `POST /snapkeeper-api/realism` with a JSON object of settings (realism_settings.py) sets
  them all (unnamed ones to their defaults) and re-seeds the random stream; `GET` returns the settings and what
  the agents did. `POST /moto-api/reset` also resets the realism to the settings the emulator started with.
"""

import json
import random
import re
import threading
import time
from io import BytesIO
from typing import Any, Callable
from urllib.parse import parse_qsl

from realism_agents import Agents
from realism_settings import SettingsError, parse_settings

CONTROL_PATH = "/snapkeeper-api/realism"
_CREDENTIAL = re.compile(r"Credential=[^/]+/\d+/([^/]+)/([^/]+)/")


class Realism:
    """The shared state: settings, the seeded random stream, `ClientToken` answers (realism_models.py), token
    buckets, agents."""

    def __init__(self, launch_settings: dict) -> None:
        self.lock = threading.RLock()
        self.launch = launch_settings
        self.configure(launch_settings)

    def configure(self, settings: dict) -> None:
        with self.lock:
            self.settings = settings
            self.rng = random.Random(settings["seed"])
            self.tokens: dict[tuple, tuple] = {}
            self.buckets: dict[tuple[str, int], list[float]] = {}
            self.agents = Agents()

    def take_token(self, region: str, action: str) -> bool:
        """Spends a token from the bucket metering `action` in `region`; False when it is empty."""
        now = time.monotonic()
        with self.lock:
            for index, bucket in enumerate(self.settings["throttle"]):
                if action not in bucket["actions"]:
                    continue
                tokens, last = self.buckets.get((region, index), [float(bucket["burst"]), now])
                tokens = min(bucket["burst"], tokens + (now - last) * bucket["ratePerSecond"])
                if tokens < 1:
                    self.buckets[(region, index)] = [tokens, now]
                    return False
                self.buckets[(region, index)] = [tokens - 1, now]
        return True


def wrap(app: Callable, realism: Realism, account_id: str) -> Callable:
    """The WSGI app that answers the control endpoint and adds the realism around moto's `app`."""

    def ec2_backend(region: str) -> Any:
        from moto.ec2.models import ec2_backends

        return ec2_backends[account_id][region]

    def call_moto(environ: dict, body: bytes) -> tuple[str, list, bytes]:
        environ["wsgi.input"] = BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        answer: dict = {}

        def start_response(status: str, headers: list, exc_info: Any = None) -> None:
            answer["status"], answer["headers"] = status, headers

        chunks = app(environ, start_response)
        try:
            data = b"".join(chunks)
        finally:
            getattr(chunks, "close", lambda: None)()
        return answer["status"], answer["headers"], data

    def ec2(environ: dict, body: bytes, region: str) -> tuple[str, list, bytes]:
        params = dict(parse_qsl(body.decode(), keep_blank_values=True))
        action = params.get("Action", "")
        if not realism.take_token(region, action):
            return _ec2_error(503, "RequestLimitExceeded", "Request limit exceeded.")
        return call_moto(environ, body)

    def ssm(environ: dict, body: bytes, region: str, target: str) -> tuple[str, list, bytes]:
        action = target.split(".", 1)[-1]
        request = json.loads(body or b"{}")
        with realism.lock:
            settings = realism.settings
            if action == "DescribeInstanceInformation":
                return _json(200, realism.agents.describe(settings, ec2_backend(region), request))
            if action == "GetCommandInvocation":
                answer = realism.agents.invocation(settings, ec2_backend(region), request)
                if answer is not None:
                    return _json(*answer)
        status, headers, data = call_moto(environ, body)
        if action == "SendCommand" and status.startswith("2"):
            with realism.lock:
                realism.agents.sent(realism.settings, realism.rng, request, json.loads(data))
        return status, headers, data

    def control(environ: dict, body: bytes) -> tuple[str, list, bytes]:
        if environ["REQUEST_METHOD"] == "POST":
            try:
                realism.configure(parse_settings(json.loads(body or b"{}")))
            except (SettingsError, ValueError) as error:
                return _json(400, {"message": str(error)})
        with realism.lock:
            return _json(200, {"settings": realism.settings, "agents": realism.agents.state()})

    def middleware(environ: dict, start_response: Callable) -> Any:
        path = environ.get("PATH_INFO", "")
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        scope = _CREDENTIAL.search(environ.get("HTTP_AUTHORIZATION", ""))
        region, service = scope.groups() if scope else ("", "")
        if path == CONTROL_PATH:
            answer = control(environ, body)
        elif service == "ec2":
            answer = ec2(environ, body, region)
        elif service == "ssm" and environ.get("HTTP_X_AMZ_TARGET", "").startswith("AmazonSSM."):
            answer = ssm(environ, body, region, environ["HTTP_X_AMZ_TARGET"])
        else:
            answer = call_moto(environ, body)
            if path == "/moto-api/reset" and answer[0].startswith("2"):
                realism.configure(realism.launch)
        start_response(answer[0], answer[1])
        return [answer[2]]

    return middleware


def _json(status: int, data: dict) -> tuple[str, list, bytes]:
    body = json.dumps(data).encode()
    reason = {200: "OK", 400: "Bad Request"}.get(status, "Error")
    return f"{status} {reason}", [("Content-Type", "application/x-amz-json-1.1"), ("Content-Length", str(len(body)))], body


def _ec2_error(status: int, code: str, message: str) -> tuple[str, list, bytes]:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error></Errors>"
        f"<RequestID>realism-{random.getrandbits(32):08x}</RequestID></Response>"
    ).encode()
    reason = {503: "Service Unavailable"}[status]
    return f"{status} {reason}", [("Content-Type", "text/xml"), ("Content-Length", str(len(body)))], body
