import sys
from pathlib import Path

# Test helpers (fdm_reference, plan_invariants) are imported as top-level modules.
sys.path.insert(0, str(Path(__file__).parent))
