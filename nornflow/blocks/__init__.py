"""NornFlow's Prefect blocks: the light ``prefect.collections`` entry point.

Importing this module loads only Prefect and pydantic: each block imports its SDK (hvac,
boto3, azure-identity, pyrage) on its first read. The AWS block nests prefect-aws's
``AwsCredentials``, so it exists only when the ``aws`` extra is installed (prefect-aws
then registers its own collection, which every Prefect process imports anyway).
"""

from __future__ import annotations

from nornflow.blocks.azure import AzureKeyVault
from nornflow.blocks.doppler import DopplerSecrets
from nornflow.blocks.local import LocalAgeSecrets
from nornflow.blocks.vault import VaultSecrets

__all__ = ["AzureKeyVault", "DopplerSecrets", "LocalAgeSecrets", "VaultSecrets"]

try:
    from nornflow.blocks.aws import AwsSecretsManager
except ImportError:  # prefect-aws missing: `pip install 'nornflow-netops[aws]'`
    pass
else:
    __all__ += ["AwsSecretsManager"]
