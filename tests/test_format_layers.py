"""The format layer speaks numpy only: importing it imports no torch, and it reads and
writes files from numpy arrays alone."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np

from pycodec.format import layout

MODULES = ["pycodec.format", "pycodec.format.reader", "pycodec.format.writer", "pycodec.format.encodings"]


def test_importing_the_format_layer_imports_no_torch() -> None:
    code = (
        "import json, sys\n"
        f"for name in {MODULES!r}: __import__(name)\n"
        "print(json.dumps(sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.'))))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(done.stdout) == []


def test_the_check_can_fail() -> None:
    code = "import sys, pycodec.torch_adapter; print('torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "True"


def test_numpy_round_trip_without_torch() -> None:
    code = (
        "import sys, numpy as np\n"
        "from pycodec.format import writer\n"
        "from pycodec.format.reader import DczReader\n"
        "from pycodec.format.tensors import StoredTensor\n"
        "w = np.zeros(1000, np.float32); w[::10] = np.arange(100, dtype=np.float32)\n"
        "data = writer.to_bytes({'w': StoredTensor('float32', (10, 100), w), 't': StoredTensor('float32', (10, 100), alias_of='w')})\n"
        "r = DczReader(data)\n"
        "assert r.keys() == ['w', 't'] and np.array_equal(r.read_array('t'), w)\n"
        "print('torch' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_layout_is_one_function_of_lengths() -> None:
    placed = layout.layout(100, [(1, 5), (64, 10), (1, 3), (64, 0)])
    assert placed.data_start == 192
    assert placed.offsets == (192, 256, 266, 320)
    assert placed.file_length == 320
    assert placed.padding([5, 10, 3, 0], 100) == [(132, 192), (197, 256), (269, 320)]
    assert layout.layout(0, []).file_length == 64
    assert np.all(np.array(placed.offsets[1::2]) % 64 == 0)
