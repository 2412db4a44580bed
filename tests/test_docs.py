from __future__ import annotations

from pathlib import Path

from fleetyard.protocol.errors import ErrorCode

DOCS = Path(__file__).parent.parent / "docs"


def test_every_error_code_is_documented() -> None:
    text = (DOCS / "errors.md").read_text()
    missing = [code.value for code in ErrorCode if f"| `{code.value}` |" not in text]
    assert missing == []
