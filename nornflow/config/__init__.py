"""Intended configuration: render it, plan the change, apply-verify-rollback it, check drift.

    from nornflow.config import Renderer, remediation, ConfigPlan
    from nornflow.flows import deploy_config, check_compliance
"""

from nornflow.config.exceptions import (
    ConfigRejected,
    RollbackFailed,
    RolledBack,
    StalePlan,
    TemplateError,
    UnsupportedPlatform,
    VerificationFailed,
)
from nornflow.config.plan import ConfigPlan, DevicePlan
from nornflow.config.remediation import config_hash, remediation, unified_diff
from nornflow.config.render import Renderer

__all__ = [
    "ConfigPlan",
    "ConfigRejected",
    "DevicePlan",
    "Renderer",
    "RollbackFailed",
    "RolledBack",
    "StalePlan",
    "TemplateError",
    "UnsupportedPlatform",
    "VerificationFailed",
    "config_hash",
    "remediation",
    "unified_diff",
]
