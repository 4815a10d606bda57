from __future__ import annotations

import pytest

from nornflow.exceptions import SecretNotFound, SecretReferenceError
from nornflow.secrets import is_reference, parse, parse_chain
from nornflow.secrets.reference import Location, extract


def test_parse_full_reference() -> None:
    ref = parse("secret:nornflow-vault/prod:network/core?version=3#password")
    assert ref.location == Location("nornflow-vault", "prod", "network/core", "3")
    assert ref.key == "password"
    assert str(ref) == "secret:nornflow-vault/prod:network/core?version=3#password"


def test_parse_aws_arn_keeps_colons_in_the_path() -> None:
    arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:net/core-AbCdEf"
    ref = parse(f"secret:nornflow-aws-secrets-manager/prod:{arn}#password")
    assert ref.location.path == arn
    assert ref.key == "password"


def test_parse_prefect_secret_without_path_or_key() -> None:
    ref = parse("  secret:secret/lab-password ")
    assert ref.location == Location("secret", "lab-password", "", None)
    assert ref.key is None


@pytest.mark.parametrize(
    "text",
    [
        "vault/prod:x#y",
        "secret:",
        "secret:Vault/prod:x",
        "secret:vault:x",
        "secret:vault/prod:x#a#b",
        "secret:v/Prod",
    ],
)
def test_malformed_reference_names_itself_and_the_syntax(text: str) -> None:
    with pytest.raises(SecretReferenceError) as info:
        parse(text)
    assert text.strip() in str(info.value)
    assert "secret:<block-type-slug>/<block-name>" in str(info.value)
    assert isinstance(info.value, ValueError)


def test_fallback_chain_string_and_list() -> None:
    a, b = "secret:nornflow-vault/prod:net#pw", "secret:secret/lab-pw"
    assert [str(r) for r in parse_chain(f"{a} || {b}")] == [a, b]
    assert [str(r) for r in parse_chain([a, b])] == [a, b]
    with pytest.raises(SecretReferenceError):
        parse_chain(f"{a} || plain-text-password")


def test_is_reference() -> None:
    assert is_reference("secret:secret/x")
    assert is_reference(["secret:secret/x", "secret:secret/y"])
    assert not is_reference("hunter2")
    assert not is_reference(["secret:secret/x", "hunter2"])
    assert not is_reference(None)
    assert not is_reference(22)


def test_extract_keys_from_mapping_and_json() -> None:
    ref = parse("secret:secret/x#password")
    assert extract({"password": "p1", "username": "u"}, ref) == "p1"
    assert extract('{"password": "p2"}', ref) == "p2"
    assert extract({"only": "v"}, parse("secret:secret/x")) == "v"
    assert extract({"port": 22}, parse("secret:secret/x#port")) == "22"


def test_extract_errors_name_keys_never_values() -> None:
    with pytest.raises(SecretNotFound) as info:
        extract({"username": "u-value", "password": "p-value"}, parse("secret:secret/x#enable"))
    text = str(info.value)
    assert "'enable'" in text and "password, username" in text
    assert "u-value" not in text and "p-value" not in text
    with pytest.raises(SecretNotFound) as info:
        extract("plain-secret-value", parse("secret:secret/x#k"))
    assert "plain-secret-value" not in str(info.value) and info.value.__cause__ is None
    with pytest.raises(SecretNotFound, match="add #<key>"):
        extract({"a": "1", "b": "2"}, parse("secret:secret/x"))
    with pytest.raises(SecretNotFound, match="not a string"):
        extract({"a": {"nested": "v"}}, parse("secret:secret/x#a"))
