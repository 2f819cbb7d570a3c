"""Data-quality gate: great-expectations suites per extract entity, run on every landing batch.

`suites.py` defines the expectations (as code, derived from the extract contracts plus the rules
the contracts cannot express); `gate.py` runs them on pandas DataFrames and turns failures into
quarantine reasons per row.
"""

from expectations.gate import GateResult, validate

__all__ = ["GateResult", "validate"]
