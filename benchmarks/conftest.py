"""Benchmark sizes: full size for measurements, tiny under PYCODEC_BENCH_SMOKE=1 (CI)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

SMOKE = os.environ.get("PYCODEC_BENCH_SMOKE") == "1"
CODEC_SYMBOLS = 20_000 if SMOKE else int(os.environ.get("PYCODEC_BENCH_SYMBOLS", "10000000"))
