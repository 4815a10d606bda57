"""``python -m nornflow.cli``: the same as the ``nornflow`` command."""

import sys

from nornflow.cli.commands import main

if __name__ == "__main__":
    sys.exit(main())
