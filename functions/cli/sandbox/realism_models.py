"""What AWS always does and moto does not, patched into moto's EC2 models so every client sees it.

- `CreateImage` with `TagSpecifications` for `snapshot` (moto raises NotImplementedError, an HTML 500): the
  snapshot tags are written on the AMI's snapshot as it is made, as AWS tags it at creation.
- `CopyImage` honours `TagSpecifications` (moto drops them): `image` tags on the new AMI, `snapshot` tags on
  its snapshot.
- `CreateSnapshots` with `CopyTagsFromSource=volume` copies each volume's tags to its snapshot (moto ignores it);
  the request's own snapshot tags win over a volume tag with the same key, as in AWS.
- Snapshots stay `pending` with a rising `Progress` for `snapshotPendingMs`, copies for `copyPendingMs`, and an
  AMI is `pending` while its snapshot is.
- EBS's concurrent-copy quota per destination Region: a `CopySnapshot` or `CopyImage` while `copyLimit` copies
  are pending there fails with `ResourceLimitExceeded`.
- `EnableImageDeprecation` (moto: HTTP 500) records the time and answers `true`.
- `ClientToken` idempotency on `CreateVolume`, `CopyImage` and `RunInstances`, per Region: a repeated token
  with the same request gets the first answer again, with another request `IdempotentParameterMismatch`. Only
  answers that succeeded are remembered, as in AWS. (EC2's `CopySnapshot` takes no `ClientToken`.) Being in the
  models, this holds in LocalStack too, whose EC2 is moto's.

`state` is the realism module's shared state (settings, the seeded random stream, a lock).
"""

import threading
import time
from typing import Any

from realism_settings import draw

_creating = threading.local()


def patch_models(state: Any) -> None:
    from moto.ec2.exceptions import EC2ClientError
    from moto.ec2.models.amis import Ami, AmiBackend
    from moto.ec2.models.elastic_block_store import EBSBackend, Snapshot
    from moto.ec2.responses.amis import AmisResponse
    from moto.ec2.responses.elastic_block_store import ElasticBlockStore
    from moto.ec2.responses.instances import InstanceResponse

    class ResourceLimitExceeded(EC2ClientError):
        def __init__(self, limit: int) -> None:
            super().__init__(
                "ResourceLimitExceeded",
                f"Too many snapshot copies in progress. The limit is {limit} for this destination region.",
            )

    original_init = Snapshot.__init__

    def snapshot_init(self: Any, *args: Any, **kwargs: Any) -> None:
        kind = getattr(_creating, "kind", "snapshot")
        with state.lock:
            pending = draw(state.settings["copyPendingMs" if kind == "copy" else "snapshotPendingMs"], state.rng)
        self._realism_kind = kind
        self._realism_started = time.time() * 1000
        self._realism_ready_at = self._realism_started + pending
        original_init(self, *args, **kwargs)

    def pending_fraction(self: Any) -> float | None:
        ready_at = getattr(self, "_realism_ready_at", 0)
        now = time.time() * 1000
        if now >= ready_at:
            return None
        return (now - self._realism_started) / max(1.0, ready_at - self._realism_started)

    def get_status(self: Any) -> str:
        base = self.__dict__.get("_realism_status", "completed")
        return "pending" if base == "completed" and pending_fraction(self) is not None else base

    def set_status(self: Any, value: str) -> None:
        self.__dict__["_realism_status"] = value

    def get_progress(self: Any) -> str:
        fraction = pending_fraction(self)
        return "100%" if fraction is None else f"{min(99, int(fraction * 100))}%"

    Snapshot.__init__ = snapshot_init
    Snapshot.status = property(get_status, set_status)
    Snapshot.progress = property(get_progress)

    def get_ami_state(self: Any) -> str:
        base = self.__dict__.get("_realism_state", "available")
        snapshot = getattr(self, "ebs_snapshot", None)
        return "pending" if base == "available" and snapshot is not None and snapshot.status == "pending" else base

    def set_ami_state(self: Any, value: str) -> None:
        self.__dict__["_realism_state"] = value

    Ami.state = property(get_ami_state, set_ami_state)

    def as_copies(backend: Any, make: Any) -> Any:
        limit = state.settings["copyLimit"]
        in_flight = [
            s for s in backend.snapshots.values() if getattr(s, "_realism_kind", "") == "copy" and s.status == "pending"
        ]
        if limit is not None and len(in_flight) >= limit:
            raise ResourceLimitExceeded(limit)
        _creating.kind = "copy"
        try:
            return make()
        finally:
            _creating.kind = "snapshot"

    original_copy_snapshot = EBSBackend.copy_snapshot
    original_copy_image = AmiBackend.copy_image
    EBSBackend.copy_snapshot = lambda self, *a, **k: as_copies(self, lambda: original_copy_snapshot(self, *a, **k))
    AmiBackend.copy_image = lambda self, *a, **k: as_copies(self, lambda: original_copy_image(self, *a, **k))

    def tags_of(specs: list, resource_type: str) -> dict:
        tags: dict = {}
        for spec in specs:
            if spec.get("ResourceType") == resource_type:
                tags.update({t["Key"]: t["Value"] for t in spec.get("Tags", [])})
        return tags

    original_create_image = AmisResponse.create_image
    original_copy_image_response = AmisResponse.copy_image

    def create_image(self: Any) -> Any:
        specs = self._get_param("TagSpecifications", [])
        # moto refuses snapshot tags and reads image tags from the same parameters: it gets neither, and both are
        # written once the AMI exists, in the same request.
        if self.automated_parameter_parsing:
            self.params = {k: v for k, v in self.params.items() if k != "TagSpecifications"}
        else:
            self.querystring = {k: v for k, v in self.querystring.items() if not k.startswith("TagSpecification")}
        result = original_create_image(self)
        tag_image(self.ec2_backend, result, specs)
        return result

    def copy_image(self: Any) -> Any:
        specs = self._get_param("TagSpecifications", [])
        result = original_copy_image_response(self)
        tag_image(self.ec2_backend, result, specs)
        return result

    def tag_image(backend: Any, result: Any, specs: list) -> None:
        ami = backend.amis[_image_id(result)]
        ami.add_tags(tags_of(specs, "image"))
        ami.ebs_snapshot.add_tags(tags_of(specs, "snapshot"))

    def enable_image_deprecation(self: Any) -> Any:
        from moto.core.responses import ActionResult

        ami = self.ec2_backend.describe_images(ami_ids=[self._get_param("ImageId")])[0]
        ami.deprecation_time = self._get_param("DeprecateAt")
        return ActionResult({"Return": True})

    AmisResponse.create_image = create_image
    AmisResponse.copy_image = copy_image
    AmisResponse.enable_image_deprecation = enable_image_deprecation

    original_create_snapshots = ElasticBlockStore.create_snapshots

    def create_snapshots(self: Any) -> Any:
        if self._get_param("CopyTagsFromSource") != "volume":
            return original_create_snapshots(self)
        own = self._parse_tag_specification().get("snapshot", {})
        result = original_create_snapshots(self)
        for snapshot in _snapshots_of(result):
            volume_tags = {t["key"]: t["value"] for t in snapshot.volume.get_tags()} if snapshot.volume else {}
            snapshot.add_tags({**volume_tags, **own})
        return result

    ElasticBlockStore.create_snapshots = create_snapshots

    class IdempotentParameterMismatch(EC2ClientError):
        def __init__(self) -> None:
            super().__init__(
                "IdempotentParameterMismatch",
                "The request uses the same client token as a previous, but non-identical request.",
            )

    def idempotent(response_class: Any, name: str, made: Any) -> None:
        """`made(backend, result)`: whether what the first answer made still exists (a reset forgets it)."""
        original = getattr(response_class, name)

        def answer(self: Any) -> Any:
            token = self._get_param("ClientToken")
            if not token:
                return original(self)
            request = tuple(
                sorted((k, tuple(v)) for k, v in self.querystring.items() if k not in _NOT_THE_REQUEST)
            )
            key = (self.current_account, self.region, name, token)
            with state.lock:  # two sends of one token at once must not both create
                seen = state.tokens.get(key)
                if seen is not None and made(self.ec2_backend, seen[1]):
                    if seen[0] != request:
                        raise IdempotentParameterMismatch()
                    return seen[1]
                result = original(self)
                state.tokens[key] = (request, result)
                return result

        setattr(response_class, name, answer)

    idempotent(ElasticBlockStore, "create_volume", lambda backend, result: result.result.id in backend.volumes)
    idempotent(AmisResponse, "copy_image", lambda backend, result: _image_id(result) in backend.amis)
    # A resend of a launch gets the first reservation again, terminated or not, as AWS answers it.
    idempotent(InstanceResponse, "run_instances", lambda backend, result: result.result.id in backend.reservations)


# Parts of a request that differ between two sends of the same request.
_NOT_THE_REQUEST = {"ClientToken", "DryRun", "Action", "Version"}


def _image_id(result: Any) -> str:
    data = getattr(result, "result", None) or getattr(result, "data", None) or {}
    return data["ImageId"]


def _snapshots_of(result: Any) -> list:
    data = getattr(result, "result", None) or getattr(result, "data", None) or {}
    return list(data.get("Snapshots", []))
