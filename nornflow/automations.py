"""Moved to :mod:`nornflow.deploy.automations`; kept because earlier docs taught
``python -m nornflow.automations deployments/automations.yaml``.
"""

import sys

from nornflow.deploy.automations import (
    AutomationSpecError,
    apply,
    block_refs,
    build_automation,
    declared_blocks,
    expand,
    load_spec,
    main,
)

__all__ = ["AutomationSpecError", "apply", "block_refs", "build_automation", "declared_blocks", "expand",
           "load_spec", "main"]

if __name__ == "__main__":
    sys.exit(main())
