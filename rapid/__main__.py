"""`python -m rapid ...`: the entrypoint a Ray job runs on the cluster."""

import sys

from rapid.platform.cli import main

sys.exit(main())
