"""The test vectors of spec/vectors decode to their documented contents, the writer still
produces them byte for byte, and a minimal decoder written from spec/dcz.md alone agrees."""

from __future__ import annotations

import importlib.util
import json
import struct
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import pycodec
from pycodec import codec

VECTORS = Path(__file__).resolve().parents[1] / "spec" / "vectors"
NAMES = sorted(p.stem for p in VECTORS.glob("*.dcz"))


def _expected(name: str) -> dict[str, Any]:
    return json.loads((VECTORS / f"{name}.json").read_text())


def _hex(tensor: torch.Tensor) -> str:
    return tensor.contiguous().reshape(-1).view(torch.uint8).numpy().tobytes().hex()


NEGATIVE = sorted(p.stem for p in (VECTORS / "negative").glob("*.dcz"))
SPEC = (VECTORS.parent / "dcz.md").read_text() + (VECTORS.parent / "huffman-stream.md").read_text()


def test_vectors_exist() -> None:
    assert {"empty", "raw", "codebook", "sparse-fillers", "sparse-raw", "alias", "zlib-header"} <= set(NAMES)
    assert len(NEGATIVE) >= 20


def test_vectors_cover_both_header_forms() -> None:
    flags = {name: _expected(name)["flags"] for name in NAMES}
    assert flags["zlib-header"] == 1 and flags["raw"] == 0
    for name in NAMES:
        with pycodec.open(VECTORS / f"{name}.dcz") as file:
            assert file.preamble.flags == flags[name]


@pytest.mark.parametrize("name", NAMES)
def test_vector_decodes_to_documented_contents(name: str) -> None:
    expected = _expected(name)
    path = VECTORS / f"{name}.dcz"
    loaded = pycodec.load(path)
    with pycodec.open(path) as file:
        assert file.metadata() == expected["metadata"]
        file.verify()
        assert [t["name"] for t in expected["tensors"]] == file.keys()
        for tensor in expected["tensors"]:
            got = loaded[tensor["name"]]
            assert str(got.dtype) == f"torch.{tensor['dtype']}"
            assert list(got.shape) == tensor["shape"]
            assert file.entry(tensor["name"]).encoding == tensor["encoding"]
            assert _hex(got) == tensor["hex"]


def test_vectors_cover_every_encoding_and_stream_kind() -> None:
    tensors = [t for name in NAMES for t in _expected(name)["tensors"]]
    streams = [s for name in NAMES for s in _expected(name)["streams"]]
    assert {t["encoding"] for t in tensors} == {"raw", "codebook", "sparse", "sparse_raw", "planes", "zstd", "alias"}
    assert {s["mode"] for s in streams} == {0, 1, 2}
    assert {s["symbol_bits"] for s in streams} == {8, 16}
    assert any(s["substreams"] > 1 for s in streams)
    assert any(s["max_code_length"] > 4 for s in streams)
    assert any(s["symbol_bits"] == 16 and s["role"] == "gaps" for s in streams)
    assert any(s["symbol_bits"] == 16 and s["role"] == "indices" for s in streams)
    codebook_dtypes = {t["dtype"] for t in tensors if t["encoding"] in ("codebook", "sparse")}
    assert {"float16", "bfloat16", "float64", "float32"} <= codebook_dtypes
    assert len({t["dtype"] for t in tensors if t["encoding"] == "raw"}) >= 15
    assert {t["dtype"] for t in tensors if t["encoding"] == "sparse_raw"} >= {"float32", "int32", "float16"}
    plane_counts = {len(t["plane_streams"]) for t in tensors if "plane_streams" in t}
    assert plane_counts == {1, 2, 4, 8}
    plane_modes = {s["mode"] for s in streams if s["role"].startswith("plane")}
    assert plane_modes == {1, 2}
    assert any(0 in t["plane_streams"] for t in tensors if "plane_streams" in t)  # raw planes too


def _generator():
    spec = importlib.util.spec_from_file_location("dcz_vectors_generate", VECTORS / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", sorted(_generator().written()))
def test_writer_still_produces_the_vectors(tmp_path: Path, name: str) -> None:
    state, metadata, options = _generator().written()[name]
    pycodec.save(state, tmp_path / "v.dcz", metadata=metadata, **options)
    assert (tmp_path / "v.dcz").read_bytes() == (VECTORS / f"{name}.dcz").read_bytes()


def test_generator_reproduces_assembled_and_negative_vectors() -> None:
    generator = _generator()
    for name, (rows, metadata, _) in generator.assembled().items():
        assert generator.assemble(rows, metadata) == (VECTORS / f"{name}.dcz").read_bytes(), name
    for name, (_, _, make) in generator.NEGATIVE.items():
        assert make() == (VECTORS / "negative" / f"{name}.dcz").read_bytes(), name


# ----------------------------------------------------------------- independent decoder
# Written from spec/dcz.md and spec/huffman-stream.md alone; it lives in tools/fuzz, where
# the fuzzers use it as a differential oracle.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools" / "fuzz"))
from spec_decoder import SpecReject  # noqa: E402
from spec_decoder import decode_bytes as _spec_decode_bytes  # noqa: E402
from spec_decoder import decode_file as _spec_decode  # noqa: E402
from spec_decoder import filler_decode as _spec_filler_decode  # noqa: E402


@pytest.mark.parametrize("name", NAMES)
def test_independent_spec_decoder_agrees(name: str) -> None:
    assert struct.unpack_from("<H", (VECTORS / f"{name}.dcz").read_bytes(), 10)[0] == _expected(name)["flags"]
    decoded = _spec_decode(VECTORS / f"{name}.dcz")
    for tensor in _expected(name)["tensors"]:
        assert decoded[tensor["name"]].hex() == tensor["hex"]


@pytest.mark.parametrize("name", NEGATIVE)
def test_negative_vector_is_rejected_by_both_readers_for_a_named_condition(name: str) -> None:
    document = json.loads((VECTORS / "negative" / f"{name}.json").read_text())
    data = (VECTORS / "negative" / f"{name}.dcz").read_bytes()
    assert data.hex() == document["hex"]
    assert f"**{document['reject']}**" in SPEC, f"{document['reject']} is not in the spec's list"
    with pytest.raises(pycodec.MalformedFileError):
        pycodec.load_bytes(data)
    with pytest.raises(SpecReject):
        _spec_decode_bytes(data)


def test_sparse_vector_uses_fillers_as_documented() -> None:
    tensor = _expected("sparse-fillers")["tensors"][0]
    bits, entries = 3, tensor["gap_entries"]
    assert (1 << bits) - 1 in entries
    values = np.frombuffer(bytes.fromhex(tensor["hex"]), dtype="<u4")
    assert _spec_filler_decode(entries, bits) == np.flatnonzero(values).tolist()


def test_spec_example_of_the_filler_rule() -> None:
    """spec/dcz.md 5.4: index_bits 3, non-zeros at 1, 2, 20 -> entries 1, 0, 7, 7, 3."""
    entries = codec.relative_index_encode(np.array([1, 2, 20]), 3).tolist()
    assert entries == [1, 0, 7, 7, 3]
    assert _spec_filler_decode(entries, 3) == [1, 2, 20]
