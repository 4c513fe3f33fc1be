"""LocalStack init hook (ready.d): the moto tier's patches where LocalStack has the same gap (it runs moto-ext).

LocalStack's EC2 is moto's, so an AMI registered from a snapshot gets an invented snapshot there too, and nothing
refuses to delete a snapshot an AMI uses. The patch the moto launcher applies (functions/cli/sandbox/moto_patches.py,
`patch_images_from_snapshots`) is applied here to the moto inside LocalStack. The other moto patches concern
moto's DynamoDB, which LocalStack does not use (its DynamoDB is DynamoDB Local). A missing patch module fails this
hook, and the harness then refuses to start; a patch moto-ext cannot take says "left unpatched" on stderr, and the
AMI tests of test/integration/lifecycle.test.ts fail.
"""

import os
import sys

sys.path.insert(0, os.environ["SNAPKEEPER_HARNESS_DIR"])
from moto_patches import patch_images_from_snapshots  # noqa: E402
from realism import Realism  # noqa: E402
from realism_models import patch_models  # noqa: E402
from realism_settings import parse_settings  # noqa: E402

patch_images_from_snapshots()
# The realistic emulator's model patches (snapshot tags on CreateImage, CopyImage tags, CopyTagsFromSource,
# ClientToken, EnableImageDeprecation), at their defaults; its request layer (agents, throttling, the control
# endpoint) sits in front of moto's server, which LocalStack does not run.
patch_models(Realism(parse_settings({})))
