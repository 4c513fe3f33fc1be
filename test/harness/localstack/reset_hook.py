"""LocalStack init hook (ready.d): a state-reset endpoint for community host mode, which has none.

`POST /_localstack/state/reset` wipes every running service: lifecycle hooks, LocalStack stores
(AccountRegionBundle), moto backends (BackendDict) and asset directories. DynamoDB is emptied instead of restarted:
its lifecycle hooks would restart DynamoDB Local's JVM, 5 to 7 s a reset on the loaded build machine, so every table
of every Region is deleted through LocalStack's own DynamoDB (which keeps its stores in step) and the JVM stays up.
It answers `{"reset": "snapkeeper", "services": [...]}`: LocalStack's catch-all answers any
unknown path with an empty 200, so the harness (test/harness/localstack.ts) only believes a reset that carries
this marker. Adapted from the example measured on the build machines (../shared/localstack/reset-hook.py).
"""

import json
import logging
import shutil
import threading
from concurrent.futures import ThreadPoolExecutor

from localstack.http import Resource, Response
from localstack.services.internal import get_internal_apis
from localstack.services.plugins import SERVICE_PLUGINS
from localstack.services.stores import AccountRegionBundle
from localstack.state import AssetDirectory, StateVisitor
from moto.core.base_backend import BackendDict

LOG = logging.getLogger("snapkeeper.reset")
MARKER = "snapkeeper"
_lock = threading.Lock()


class _Reset(StateVisitor):
    def __init__(self, keep_assets=False):
        # DynamoDB Local runs in memory (DYNAMODB_IN_MEMORY); its asset directory is left to the running JVM.
        self.keep_assets = keep_assets

    def visit(self, component):
        if isinstance(component, (AccountRegionBundle, BackendDict)):
            component.reset()
        elif isinstance(component, AssetDirectory) and not self.keep_assets:
            shutil.rmtree(component.path, ignore_errors=True)


def _empty_dynamodb():
    from botocore.session import get_session
    from localstack.aws.connect import connect_to
    from localstack.constants import DEFAULT_AWS_ACCOUNT_ID
    from localstack.services.dynamodb.models import dynamodb_stores

    def empty(account, region):
        client = connect_to(aws_access_key_id=account, region_name=region).dynamodb
        for page in client.get_paginator("list_tables").paginate():
            for name in page["TableNames"]:
                client.delete_table(TableName=name)
        if client.list_tables()["TableNames"]:
            raise RuntimeError(f"DynamoDB tables of {account} in {region} survived the reset")

    accounts = set(dynamodb_stores.keys()) | {DEFAULT_AWS_ACCOUNT_ID}
    namespaces = [(a, r) for a in accounts for r in get_session().get_available_regions("dynamodb")]
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda namespace: empty(*namespace), namespaces))  # list() raises what a worker raised


def _reset_all():
    done = []
    for name in SERVICE_PLUGINS.list_loaded_services():
        if not SERVICE_PLUGINS.is_running(name):
            continue
        service = SERVICE_PLUGINS.get_service(name)
        if name == "dynamodb":
            _empty_dynamodb()
            service.accept_state_visitor(_Reset(keep_assets=True))
            done.append(name)
            continue
        hook = getattr(service, "lifecycle_hook", None)
        if hook:
            hook.on_before_state_reset()
        service.accept_state_visitor(_Reset())
        if hook:
            hook.on_after_state_reset()
        done.append(name)
    return done


class _ResetResource:
    def on_post(self, request):
        with _lock:
            done = _reset_all()
        LOG.info("state reset: %s", done)
        return Response(json.dumps({"reset": MARKER, "services": done}), 200, mimetype="application/json")


get_internal_apis().add(Resource("/_localstack/state/reset", _ResetResource()))
