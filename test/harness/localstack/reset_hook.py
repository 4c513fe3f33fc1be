"""LocalStack init hook (ready.d): a state-reset endpoint for community host mode, which has none.

`POST /_localstack/state/reset` wipes every running service: lifecycle hooks (DynamoDB Local is stopped, its
files removed, restarted), LocalStack stores (AccountRegionBundle), moto backends (BackendDict) and asset
directories. It answers `{"reset": "snapkeeper", "services": [...]}`: LocalStack's catch-all answers any
unknown path with an empty 200, so the harness (test/harness/localstack.ts) only believes a reset that carries
this marker. Adapted from the example measured on the build machines (../shared/localstack/reset-hook.py).
"""

import json
import logging
import shutil
import threading

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
    def visit(self, component):
        if isinstance(component, (AccountRegionBundle, BackendDict)):
            component.reset()
        elif isinstance(component, AssetDirectory):
            shutil.rmtree(component.path, ignore_errors=True)


def _reset_all():
    done = []
    for name in SERVICE_PLUGINS.list_loaded_services():
        if not SERVICE_PLUGINS.is_running(name):
            continue
        service = SERVICE_PLUGINS.get_service(name)
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
