"""The realistic emulator's settings: what `POST /snapkeeper-api/realism` accepts, checked and filled with defaults.

Every setting has a default that keeps moto's instant answers (nothing pending, no throttling), so a client that
never calls the control endpoint sees AWS's request and response shapes without waiting for anything. Unknown
keys and values of the wrong type are refused with a message naming the field and what it takes.
"""

import random
from typing import Any


class SettingsError(ValueError):
    """A control request the emulator refuses; the message names the field and the fix."""


AGENT_DEFAULTS: dict[str, Any] = {
    "online": True,
    "runMs": 0,
    "unregisteredPolls": 1,
    "freeze": "success",
    "thaw": "success",
    # The document refuses a freeze that starts past its NotAfter, by the instance's clock (the emulator's). A
    # replay on a simulated clock (`--at` in the past) sends NotAfter times already past: switch this off for it.
    "checkNotAfter": True,
}

DEFAULTS: dict[str, Any] = {
    "seed": 1,
    # How long a new snapshot (CreateSnapshot, CreateSnapshots, CreateImage) stays `pending`.
    "snapshotPendingMs": 0,
    # How long a copy (CopySnapshot, CopyImage) stays `pending`.
    "copyPendingMs": 0,
    # EBS's concurrent snapshot-copy quota per destination Region (AWS's default is 20).
    "copyLimit": 20,
    # Token buckets: each entry one bucket per Region, shared by its actions and by every client.
    "throttle": [],
    # The simulated SSM agent: `default` for every running instance, `instances` by instance id.
    "agents": {"default": AGENT_DEFAULTS, "instances": {}},
}


def _millis(value: Any, field: str) -> Any:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, dict) and set(value) == {"minMs", "maxMs"}:
        low, high = value["minMs"], value["maxMs"]
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (low, high)) and 0 <= low <= high:
            return {"minMs": low, "maxMs": high}
    raise SettingsError(f"{field} takes milliseconds >= 0, or {{\"minMs\": a, \"maxMs\": b}} with 0 <= a <= b")


def draw(value: Any, rng: random.Random) -> float:
    """A duration in ms: the value itself, or a seeded draw from its range."""
    if isinstance(value, dict):
        return value["minMs"] + rng.random() * (value["maxMs"] - value["minMs"])
    return float(value)


def _known(body: dict, known: dict, where: str) -> None:
    for key in body:
        if key not in known:
            raise SettingsError(f"unknown setting {where}{key}; known: {', '.join(sorted(known))}")


def _agent(body: Any, base: dict, field: str) -> dict:
    if not isinstance(body, dict):
        raise SettingsError(f"{field} takes an object like {{\"online\": true, \"runMs\": 150}}")
    _known(body, AGENT_DEFAULTS, f"{field}.")
    agent = {**base, **body}
    for flag in ("online", "checkNotAfter"):
        if not isinstance(agent[flag], bool):
            raise SettingsError(f"{field}.{flag} takes true or false")
    agent["runMs"] = _millis(agent["runMs"], f"{field}.runMs")
    polls = agent["unregisteredPolls"]
    if not isinstance(polls, int) or isinstance(polls, bool) or polls < 0:
        raise SettingsError(f"{field}.unregisteredPolls takes a whole number >= 0")
    if agent["freeze"] not in ("success", "failed", "hang"):
        raise SettingsError(f"{field}.freeze takes success, failed or hang")
    if agent["thaw"] not in ("success", "failed"):
        raise SettingsError(f"{field}.thaw takes success or failed")
    return agent


def _throttle(body: Any) -> list:
    if not isinstance(body, list):
        raise SettingsError('throttle takes a list like [{"actions": ["CreateSnapshot"], "ratePerSecond": 5, "burst": 10}]')
    buckets = []
    for i, entry in enumerate(body):
        field = f"throttle[{i}]"
        if not isinstance(entry, dict):
            raise SettingsError(f"{field} takes an object with actions, ratePerSecond and burst")
        _known(entry, {"actions": 0, "ratePerSecond": 0, "burst": 0}, f"{field}.")
        actions, rate, burst = entry.get("actions"), entry.get("ratePerSecond"), entry.get("burst")
        if not isinstance(actions, list) or not actions or not all(isinstance(a, str) and a for a in actions):
            raise SettingsError(f"{field}.actions takes a non-empty list of EC2 action names, e.g. [\"CreateSnapshot\"]")
        if not isinstance(rate, (int, float)) or isinstance(rate, bool) or rate < 0:
            raise SettingsError(f"{field}.ratePerSecond takes a number >= 0")
        if not isinstance(burst, int) or isinstance(burst, bool) or burst < 1:
            raise SettingsError(f"{field}.burst takes a whole number >= 1")
        buckets.append({"actions": list(actions), "ratePerSecond": rate, "burst": burst})
    return buckets


def parse_settings(body: Any) -> dict:
    """The full settings a control request asks for: its fields over the defaults (a request states them all)."""
    if not isinstance(body, dict):
        raise SettingsError("the body takes a JSON object of settings, e.g. {\"snapshotPendingMs\": 2000}")
    _known(body, DEFAULTS, "")
    settings = {**DEFAULTS, **body}
    seed = settings["seed"]
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise SettingsError("seed takes a whole number")
    settings["snapshotPendingMs"] = _millis(settings["snapshotPendingMs"], "snapshotPendingMs")
    settings["copyPendingMs"] = _millis(settings["copyPendingMs"], "copyPendingMs")
    limit = settings["copyLimit"]
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
        raise SettingsError("copyLimit takes a whole number >= 1, or null for no quota")
    settings["throttle"] = _throttle(settings["throttle"])
    agents = settings["agents"]
    if not isinstance(agents, dict):
        raise SettingsError('agents takes {"default": {...}, "instances": {"i-...": {...}}}')
    _known(agents, {"default": 0, "instances": 0}, "agents.")
    default = _agent(agents.get("default", {}), AGENT_DEFAULTS, "agents.default")
    instances = agents.get("instances", {})
    if not isinstance(instances, dict):
        raise SettingsError('agents.instances takes an object keyed by instance id')
    settings["agents"] = {
        "default": default,
        "instances": {i: _agent(b, default, f"agents.instances.{i}") for i, b in instances.items()},
    }
    return settings
