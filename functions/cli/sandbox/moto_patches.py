"""Fixes for moto, applied by the launcher: speed fixes that keep moto's observable behaviour exactly, and one
fidelity fix where moto differs from AWS in a way the product must be tested against (the last one below).

TransactWriteItems: moto deep-copies every table a transaction touches, once per item, so that it can roll
back on failure. That costs O(table size) per call and makes a long replay quadratic (a 60-day replay spent
most of its time copying the catalog). Here the rollback snapshot holds only the items the transaction
names, restored exactly on failure: the same semantics at O(items). If moto's internals differ from what
this expects, nothing is patched and a line on stderr says so.

Atomic DynamoDB requests: moto server answers requests on several threads and checks a write's condition and
applies it without a lock, so two conditional writes racing on one item can both pass (lost updates, a copy
slot semaphore holding 21 of 20, HTTP 500 "dictionary changed size during iteration"). DynamoDB applies each
request atomically; one lock around every DynamoDB request gives the emulator the same guarantee, which the
catalog's optimistic concurrency and the copy slots rely on.

AMIs registered from snapshots: see `patch_images_from_snapshots`.
"""

import copy
import sys
import threading
from typing import Any


class _CopyWithoutTables:
    """Stands in for the `copy` module inside moto.dynamodb.models: tables are not copied, all else is."""

    def __init__(self, table_type: type) -> None:
        self._table_type = table_type

    def deepcopy(self, obj: Any, memo: Any = None) -> Any:
        return obj if isinstance(obj, self._table_type) else copy.deepcopy(obj, memo)

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)


def patch_transactions() -> None:
    try:
        from moto.dynamodb import models
        from moto.dynamodb.models.dynamo_type import DynamoType
        from moto.dynamodb.models.table import Table

        original = models.DynamoDBBackend.transact_write_items
    except (ImportError, AttributeError) as error:
        sys.stderr.write(f"moto_patches: transactions left unpatched ({error})\n")
        return

    def key_of(table: Any, op: dict) -> tuple[Any, Any] | None:
        attrs = op.get("Key") or op.get("Item")
        if not attrs or table.hash_key_attr not in attrs:
            return None
        hash_key = DynamoType(attrs[table.hash_key_attr])
        range_key = DynamoType(attrs[table.range_key_attr]) if table.range_key_attr in attrs else None
        return hash_key, range_key

    def transact_write_items(self: Any, transact_items: list) -> None:
        saved = []
        for entry in transact_items:
            _, op = next(iter(entry.items()))
            table = self.tables.get(op.get("TableName"))
            key = key_of(table, op) if table is not None else None
            if key is None:
                continue
            hash_key, range_key = key
            bucket = table.items.get(hash_key)
            present = bucket is not None and (range_key is None or range_key in bucket)
            item = (bucket[range_key] if range_key is not None else bucket) if present else None
            saved.append((table, hash_key, range_key, copy.deepcopy(item)))
        try:
            return original(self, transact_items)
        except Exception:
            for table, hash_key, range_key, item in reversed(saved):
                if range_key is None:
                    if item is None:
                        table.items.pop(hash_key, None)
                    else:
                        table.items[hash_key] = item
                elif item is None:
                    table.items.get(hash_key, {}).pop(range_key, None)
                else:
                    table.items[hash_key][range_key] = item
            raise

    models.copy = _CopyWithoutTables(Table)
    models.DynamoDBBackend.transact_write_items = transact_write_items


def patch_dynamodb_atomicity() -> None:
    try:
        from moto.dynamodb.responses import DynamoHandler
    except Exception as error:  # pragma: no cover - depends on moto's internals
        sys.stderr.write(f"moto_patches: DynamoDB requests left unlocked ({error})\n")
        return
    lock = threading.RLock()
    original = DynamoHandler.call_action

    def call_action(self: Any) -> Any:
        with lock:
            return original(self)

    DynamoHandler.call_action = call_action


def patch_images_from_snapshots() -> None:
    """AMIs registered from existing snapshots, as AWS keeps them (moto ignores the mapping and invents a snapshot).

    `RegisterImage` with a block device mapping that names an EBS snapshot gives an AMI backed by that snapshot;
    `DescribeImages` filters on `block-device-mapping.snapshot-id`; and `DeleteSnapshot` of a snapshot any AMI is
    backed by answers `InvalidSnapshot.InUse`, naming the AMI. A user's AMI made from a snapkeeper snapshot is a
    case the pruner must survive, and AWS is the behaviour it must survive.
    """
    try:
        from moto.ec2.exceptions import InvalidSnapshotInUse
        from moto.ec2.models.amis import Ami
        from moto.ec2.models.elastic_block_store import EBSBackend
        from moto.ec2.responses.amis import AmisResponse
    except (ImportError, AttributeError) as error:
        sys.stderr.write(f"moto_patches: images from snapshots left unpatched ({error})\n")
        return

    original_register = AmisResponse.register_image
    original_filter = Ami.get_filter_value
    original_delete = EBSBackend.delete_snapshot

    def register_image(self: Any) -> Any:
        before = set(self.ec2_backend.amis)
        result = original_register(self)
        mappings = self._get_param("BlockDeviceMappings", []) or []
        mappings = [m for m in mappings if (m.get("Ebs") or {}).get("SnapshotId")]
        registered = [self.ec2_backend.amis[i] for i in self.ec2_backend.amis if i not in before]
        if not mappings or len(registered) != 1:
            return result
        ami = registered[0]
        invented = ami.ebs_snapshot
        ami.ebs_snapshot = self.ec2_backend.get_snapshot(mappings[0]["Ebs"]["SnapshotId"])
        ami.root_device_name = mappings[0].get("DeviceName") or ami.root_device_name
        self.ec2_backend.snapshots.pop(invented.id, None)
        return result

    def get_filter_value(self: Any, filter_name: str, method_name: Any = None) -> Any:
        if filter_name == "block-device-mapping.snapshot-id":
            return self.ebs_snapshot.id
        return original_filter(self, filter_name, method_name)

    def delete_snapshot(self: Any, snapshot_id: str) -> Any:
        for ami in list(getattr(self, "amis", {}).values()):
            if getattr(ami, "ebs_snapshot", None) is not None and ami.ebs_snapshot.id == snapshot_id:
                raise InvalidSnapshotInUse(snapshot_id, ami.id)
        return original_delete(self, snapshot_id)

    AmisResponse.register_image = register_image
    Ami.get_filter_value = get_filter_value
    EBSBackend.delete_snapshot = delete_snapshot
