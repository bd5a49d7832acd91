from __future__ import annotations

import json
import logging
import stat
from pathlib import Path

import pytest

from continuum.identity import IdentityError, NodeIdentity, key_from_node_id, verify_signature
from continuum.logs import JsonFormatter, redact


def test_key_is_created_once_with_0600(tmp_path: Path) -> None:
    first = NodeIdentity.load_or_create(tmp_path)
    mode = stat.S_IMODE((tmp_path / "node.key").stat().st_mode)
    assert mode == 0o600
    assert NodeIdentity.load_or_create(tmp_path).node_id == first.node_id


def test_key_readable_by_others_is_refused(tmp_path: Path) -> None:
    NodeIdentity.load_or_create(tmp_path)
    (tmp_path / "node.key").chmod(0o644)
    with pytest.raises(IdentityError, match="chmod 600"):
        NodeIdentity.load_or_create(tmp_path)


def test_corrupt_key_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "node.key"
    path.write_text("garbage!!")
    path.chmod(0o600)
    with pytest.raises(IdentityError, match="not a valid node key"):
        NodeIdentity.load_or_create(tmp_path)


def test_node_id_is_self_certifying() -> None:
    identity = NodeIdentity.generate()
    assert bytes(key_from_node_id(identity.node_id)) == bytes(identity.signing_key.verify_key)
    signature = identity.sign(b"message")
    assert verify_signature(identity.node_id, b"message", signature)
    assert not verify_signature(identity.node_id, b"other", signature)
    assert not verify_signature("short", b"message", signature)


def test_secrets_never_reach_the_log() -> None:
    assert redact("postgresql://admin:hunter2@db:5432/x") == "postgresql://admin:***@db:5432/x"
    assert "hunter2" not in redact("connecting with password=hunter2 token: abc123")
    record = logging.LogRecord(
        "t", logging.INFO, "f", 1, "dsn %s", ("nats://u:s3cret@h:4222",), None
    )
    line = json.loads(JsonFormatter("svc").format(record))
    assert "s3cret" not in line["msg"] and line["service"] == "svc"


def test_key_from_settings_wins_over_the_file(tmp_path: Path) -> None:
    import base64

    file_identity = NodeIdentity.load_or_create(tmp_path)
    other = NodeIdentity.generate()
    seed = base64.b64encode(bytes(other.signing_key)).decode()
    assert NodeIdentity.configured(tmp_path, seed).node_id == other.node_id
    assert NodeIdentity.configured(tmp_path, "").node_id == file_identity.node_id
    with pytest.raises(IdentityError, match="CONTINUUM_NODE_KEY is not a valid node key"):
        NodeIdentity.configured(tmp_path, "not base64!")
