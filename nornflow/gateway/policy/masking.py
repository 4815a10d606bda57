"""Block documents on the way out: every secret field masked, whatever the shape of its value."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

#: Reads that answer block documents (one, or a list): their secret fields are masked again on the way out.
DOCUMENT_READS = frozenset({
    "GET /block_documents/{id}", "GET /block_types/slug/{slug}/block_documents",
    "GET /block_types/slug/{slug}/block_documents/name/{block_document_name}", "POST /block_documents/filter",
})
MASK = "********"


def _mask_path(data: Any, path: Sequence[str]) -> None:
    """Replace the value at ``path`` (``*`` meaning every key at that level) with the mask, whatever its type."""
    if not isinstance(data, dict) or not path:
        return
    head, rest = path[0], list(path[1:])
    for key in (list(data) if head == "*" else [head] if head in data else []):
        if rest and rest != ["*"]:
            _mask_path(data[key], rest)
        elif data[key] is not None:
            data[key] = MASK


def mask_documents(payload: Any) -> Any:
    """Block documents as a caller without secrets must see them: every secret field masked, nested values too.

    Prefect obfuscates a secret field only where its value is a scalar at exactly that path (it flattens
    the data first): a Secret whose value is a JSON object (``Secret(value={"k": "v"})``, which NornFlow's
    ``secret:secret/<name>#<key>`` references read) is answered in clear to every viewer. The gateway masks
    the whole value of each ``secret_fields`` entry of the document's own schema.
    """
    documents = payload if isinstance(payload, list) else [payload]
    for document in documents:
        if not isinstance(document, dict) or not isinstance(document.get("data"), dict):
            continue
        schema = document.get("block_schema")
        fields = schema.get("fields") if isinstance(schema, dict) else None
        if not isinstance(fields, dict):  # no schema to read the secret fields from: show no value at all
            document["data"] = dict.fromkeys(document["data"], MASK)
            continue
        for secret in fields.get("secret_fields") or []:
            if isinstance(secret, str):
                _mask_path(document["data"], secret.split("."))
    return payload
