import sys
from pathlib import Path

# The helpers shared by all scenarios live in molecule/shared.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "shared"))
