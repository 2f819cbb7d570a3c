"""Demo extract generator: a simulated subscription business writing the four sources' daily extracts.

Run `python -m ingestion.demo --help`; see docs/demo-data.md for what it simulates and the truths it plants.
"""

from ingestion.demo.generator import generate
from ingestion.demo.params import Params

__all__ = ["Params", "generate"]
