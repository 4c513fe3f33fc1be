"""A simulated SSM agent on every instance, on the emulator's side, so any client's freeze reaches one.

moto does not implement `DescribeInstanceInformation`, and its `SendCommand` runs nothing: every invocation is
`Success` at once. Here each running instance has an agent (online unless the settings say otherwise) that
registers its invocation after `unregisteredPolls` polls (`InvocationDoesNotExist` until then, as SSM answers in
the moments after a send), stays `InProgress` for `runMs`, then plays snapkeeper's Linux freeze document
(infra/linux-freeze.sh) step by step: a freeze past its `NotAfter`, or while another freeze holds the instance,
is refused; a freeze reports each attached volume frozen by its NVMe serial and arms a watchdog that thaws it
after `TimeoutSeconds`; a thaw reports whether it found its freeze `held`, ended by the `watchdog`, or `none`.
Other documents (VSS, a user's pre/post script) succeed with no output.
"""

import time
from datetime import datetime, timezone
from typing import Any

from realism_settings import draw

FROZEN, FREEZE_OK, THAWED = "SNAPKEEPER_FROZEN", "SNAPKEEPER_FREEZE_OK", "SNAPKEEPER_THAWED"


def _now_ms() -> float:
    return time.time() * 1000


class Agents:
    def __init__(self) -> None:
        self.commands: dict[tuple[str, str], dict] = {}
        # instance id -> the freeze holding it: {"freezeId", "until" (watchdog time, ms)}
        self.frozen: dict[str, dict] = {}
        # freeze ids whose watchdog thawed them, and the events every test can read back
        self.watchdog_ended: set[str] = set()
        self.events: list[dict] = []

    def behaviour(self, settings: dict, instance_id: str) -> dict:
        agents = settings["agents"]
        return agents["instances"].get(instance_id, agents["default"])

    def describe(self, settings: dict, ec2: Any, body: dict) -> dict:
        wanted: set[str] = set()
        for f in body.get("Filters", []):
            if f.get("Key") == "InstanceIds":
                wanted.update(f.get("Values") or [])
        for f in body.get("InstanceInformationFilterList", []):
            if f.get("key") == "InstanceIds":
                wanted.update(f.get("valueSet") or [])
        listed = []
        for reservation in ec2.reservations.values():
            for instance in reservation.instances:
                if instance._state.name != "running" or (wanted and instance.id not in wanted):
                    continue
                if not self.behaviour(settings, instance.id)["online"]:
                    continue
                windows = (instance.platform or "").lower() == "windows"
                listed.append({
                    "InstanceId": instance.id,
                    "PingStatus": "Online",
                    "LastPingDateTime": time.time(),
                    "AgentVersion": "3.3.1142.0",
                    "IsLatestVersion": True,
                    "PlatformType": "Windows" if windows else "Linux",
                    "PlatformName": "Microsoft Windows Server 2022 Datacenter" if windows else "Amazon Linux",
                    "ResourceType": "EC2Instance",
                })
        return {"InstanceInformationList": listed}

    def sent(self, settings: dict, rng: Any, body: dict, answer: dict) -> None:
        command = answer.get("Command") or {}
        parameters = body.get("Parameters") or {}
        sent_at = _now_ms()
        for instance_id in body.get("InstanceIds") or []:
            behaviour = self.behaviour(settings, instance_id)
            self.commands[(command.get("CommandId", ""), instance_id)] = {
                "document": body.get("DocumentName", ""),
                "parameters": {k: (v[0] if v else "") for k, v in parameters.items()},
                "sentAt": sent_at,
                "runMs": draw(behaviour["runMs"], rng),
                "deliveryTimeoutMs": float(body.get("TimeoutSeconds") or 3600) * 1000,
                "polls": 0,
                "result": None,
            }
            verb = parameters.get("Action", parameters.get("command", [""]))[0]
            self._event(instance_id, "freeze-sent" if verb in ("Freeze", "pre-script") else "thaw-sent", sent_at)

    def invocation(self, settings: dict, ec2: Any, body: dict) -> tuple[int, dict] | None:
        """The answer to `GetCommandInvocation`, or None for a command the agents never saw (moto answers)."""
        key = (body.get("CommandId", ""), body.get("InstanceId", ""))
        command = self.commands.get(key)
        if command is None:
            return None
        behaviour = self.behaviour(settings, key[1])
        base = {"CommandId": key[0], "InstanceId": key[1], "DocumentName": command["document"]}
        command["polls"] += 1
        if command["polls"] <= behaviour["unregisteredPolls"]:
            return 400, {"__type": "InvocationDoesNotExist", "message": "Invocation does not exist yet."}
        now = _now_ms()
        if not behaviour["online"]:
            if now < command["sentAt"] + command["deliveryTimeoutMs"]:
                return 200, {**base, "Status": "Pending", "StatusDetails": "Pending"}
            return 200, {**base, "Status": "TimedOut", "StatusDetails": "DeliveryTimedOut"}
        if now < command["sentAt"] + command["runMs"]:
            return 200, {**base, "Status": "InProgress", "StatusDetails": "InProgress"}
        if command["result"] is None:
            command["result"] = self._run(behaviour, ec2, key[1], command, command["sentAt"] + command["runMs"])
        return 200, {**base, **command["result"]}

    def state(self) -> dict:
        self._watchdogs(_now_ms())
        # In time order: a watchdog's thaw is found when the agent next looks, and dated when it fired.
        return {"events": sorted(self.events, key=lambda e: e["at"]), "frozen": sorted(self.frozen)}

    def _run(self, behaviour: dict, ec2: Any, instance_id: str, command: dict, at: float) -> dict:
        params = command["parameters"]
        action, freeze_id = params.get("Action"), params.get("FreezeId")
        if not freeze_id or action not in ("Freeze", "Thaw"):
            return _success("")  # not snapkeeper's Linux document: VSS or a user's script
        self._watchdogs(at)
        if action == "Thaw":
            if behaviour["thaw"] == "failed":
                return _failed("fsfreeze: cannot thaw: Input/output error")
            held = self.frozen.get(instance_id, {}).get("freezeId") == freeze_id
            if held:
                del self.frozen[instance_id]
                self._event(instance_id, "thawed", at)
            found = "held" if held else "watchdog" if freeze_id in self.watchdog_ended else "none"
            return _success(f"{THAWED} {found}\n")
        if behaviour["freeze"] == "hang":
            return {"Status": "InProgress", "StatusDetails": "InProgress"}
        if behaviour["freeze"] == "failed":
            return _failed("fsfreeze: Operation not supported")
        not_after = params.get("NotAfter", "")
        if not_after and behaviour["checkNotAfter"] and at > _iso_ms(not_after):
            return _failed(f"snapkeeper freeze {freeze_id}: NotAfter {not_after} has passed; not freezing")
        holder = self.frozen.get(instance_id)
        if holder is not None and holder["freezeId"] != freeze_id:
            return _failed(f"snapkeeper freeze {freeze_id}: another freeze ({holder['freezeId']}) holds the instance")
        timeout_ms = float(params.get("TimeoutSeconds", "10")) * 1000
        self.frozen[instance_id] = {"freezeId": freeze_id, "until": at + timeout_ms}
        self._event(instance_id, "frozen", at)
        lines = [
            f"{FROZEN} /data{i} /dev/nvme{i + 1}n1 {volume_id.replace('-', '')}"
            for i, volume_id in enumerate(_attached_volumes(ec2, instance_id))
        ]
        return _success("\n".join([*lines, FREEZE_OK, ""]))

    def _watchdogs(self, now: float) -> None:
        for instance_id, holder in list(self.frozen.items()):
            if now >= holder["until"]:
                del self.frozen[instance_id]
                self.watchdog_ended.add(holder["freezeId"])
                self._event(instance_id, "watchdog-thawed", holder["until"])

    def _event(self, instance_id: str, event: str, at: float | None = None) -> None:
        self.events.append({"instanceId": instance_id, "event": event, "at": at if at is not None else _now_ms()})


def _attached_volumes(ec2: Any, instance_id: str) -> list[str]:
    try:
        instance = ec2.get_instance(instance_id)
    except Exception:  # the instance was terminated meanwhile: nothing to freeze
        return []
    return [device.volume_id for _, device in instance.get_block_device_mapping]


def _iso_ms(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(timezone.utc).timestamp() * 1000


def _success(output: str) -> dict:
    return {"Status": "Success", "StatusDetails": "Success", "ResponseCode": 0, "StandardOutputContent": output}


def _failed(error: str) -> dict:
    return {"Status": "Failed", "StatusDetails": "Failed", "ResponseCode": 1, "StandardErrorContent": error}

