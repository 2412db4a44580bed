"""Where the real gateway data the tests build on lives (MIT-licensed, see its LICENSE)."""

from __future__ import annotations

from pathlib import Path

OVERKIZ = Path(__file__).resolve().parents[1] / "fixtures" / "overkiz"
"""Gateway setups (``setup/``), events, executions, scenes and error bodies."""

SETUPS = OVERKIZ / "setup"
LOCAL_TAHOMA = SETUPS / "setup_local_tahoma.json"
"""Eight devices of a TaHoma box on its local API: awnings, blinds, a light: the demo setup."""
