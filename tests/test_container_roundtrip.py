"""Round trips through .dcz: real (small) models, every dtype, edge cases, encodings chosen."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import pycodec
from pycodec.format import encodings
from pycodec.format.dtypes import DTYPES
from pycodec.torch_adapter import dtype_row


def bits_of(tensor: torch.Tensor) -> bytes:
    """The exact bytes of a tensor's elements in row-major order."""
    return tensor.detach().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()


def assert_bit_exact(loaded: dict[str, torch.Tensor], original: dict[str, torch.Tensor]) -> None:
    assert list(loaded) == list(original)
    for name, tensor in original.items():
        got = loaded[name]
        assert got.dtype == tensor.dtype, name
        assert tuple(got.shape) == tuple(tensor.shape), name
        assert bits_of(got) == bits_of(tensor), name


def roundtrip(tmp_path: Path, state: dict[str, torch.Tensor], **kwargs) -> dict[str, torch.Tensor]:
    path = tmp_path / "model.dcz"
    pycodec.save(state, path, **kwargs)
    return pycodec.load(path)


def encodings_of(path: Path) -> dict[str, str]:
    with pycodec.open(path) as file:
        return {name: file.entry(name).encoding for name in file.names()}


# ----------------------------------------------------------------- models


def mlp() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(784, 300), nn.ReLU(), nn.Linear(300, 100), nn.ReLU(), nn.Linear(100, 10))


def convnet() -> nn.Module:
    torch.manual_seed(1)
    return nn.Sequential(
        nn.Conv2d(1, 20, 5), nn.BatchNorm2d(20), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(20, 50, 5), nn.ReLU(), nn.Flatten(), nn.Linear(50 * 8 * 8, 500), nn.Linear(500, 10),
    )


def deep_compress_(module: nn.Module, density: float, bits: int) -> None:
    """Magnitude-prune each weight matrix to `density`, then snap survivors to 2**bits
    linearly spaced centroids (the shape Deep Compression leaves a layer in)."""
    with torch.no_grad():
        for name, param in module.named_parameters():
            if not name.endswith("weight") or param.dim() < 2:
                continue
            flat = param.reshape(-1)
            keep = max(1, int(flat.numel() * density))
            threshold = flat.abs().kthvalue(flat.numel() - keep + 1).values
            mask = flat.abs() >= threshold
            kept = flat[mask]
            centroids = torch.linspace(float(kept.min()), float(kept.max()), 2**bits)
            snapped = centroids[(kept[:, None] - centroids).abs().argmin(dim=1)]
            flat.zero_()
            flat[mask] = snapped


@pytest.mark.parametrize("factory", [mlp, convnet])
def test_untouched_model_roundtrips_bit_exact(tmp_path: Path, factory) -> None:
    model = factory()
    state = model.state_dict()
    assert_bit_exact(roundtrip(tmp_path, state), state)


@pytest.mark.parametrize("factory", [mlp, convnet])
def test_deep_compressed_model_roundtrips_and_shrinks(tmp_path: Path, factory) -> None:
    model = factory()
    deep_compress_(model, density=0.08, bits=5)
    state = model.state_dict()
    path = tmp_path / "m.dcz"
    pycodec.save(model, path)
    assert_bit_exact(pycodec.load(path), state)
    dense_bytes = sum(t.numel() * t.element_size() for t in state.values())
    assert path.stat().st_size * 10 < dense_bytes  # pruning + sharing + Huffman at work
    chosen = encodings_of(path)
    for name, tensor in state.items():
        if name.endswith("weight") and tensor.dim() >= 2:
            assert chosen[name] == "sparse", name


@pytest.mark.parametrize("compress_header", [True, False])
@pytest.mark.parametrize("factory", [mlp, convnet])
def test_both_header_forms_roundtrip(tmp_path: Path, factory, compress_header: bool) -> None:
    model = factory()
    deep_compress_(model, density=0.08, bits=5)
    state = model.state_dict()
    path = tmp_path / "m.dcz"
    pycodec.save(model, path, metadata={"arch": factory.__name__}, compress_header=compress_header)
    assert_bit_exact(pycodec.load(path), state)
    with pycodec.open(path) as file:
        assert file.header_compressed == compress_header  # these tables compress well
        assert file.metadata == {"arch": factory.__name__}
        file.verify()
        if compress_header:
            assert file.preamble.header_length * 2 < file.header_json_length
        else:
            assert file.preamble.header_length == file.header_json_length


def test_weight_shared_dense_tensor_uses_codebook(tmp_path: Path) -> None:
    torch.manual_seed(2)
    centroids = torch.randn(16)
    state = {"w": centroids[torch.randint(0, 16, (200, 300))]}
    path = tmp_path / "q.dcz"
    pycodec.save(state, path)
    assert encodings_of(path) == {"w": "codebook"}
    assert_bit_exact(pycodec.load(path), state)
    assert path.stat().st_size < 200 * 300 * 4 / 6  # ~4 bits per weight


def test_load_into_module_and_strictness(tmp_path: Path) -> None:
    source = mlp()
    deep_compress_(source, 0.1, 4)
    path = tmp_path / "m.dcz"
    pycodec.save(source, path, metadata={"arch": "lenet-300-100"})
    target = mlp()
    for p in target.parameters():
        nn.init.zeros_(p)
    pycodec.load_into(target, path)
    assert_bit_exact(target.state_dict(), source.state_dict())
    smaller = nn.Sequential(nn.Linear(784, 300))
    with pytest.raises(RuntimeError):
        pycodec.load_into(smaller, path)
    result = pycodec.load_into(smaller, path, strict=False)
    assert "2.weight" in result.unexpected_keys


# ----------------------------------------------------------------- dtypes and edge cases


def _dtype_names() -> list[str]:
    return [name for name in DTYPES if isinstance(getattr(torch, name, None), torch.dtype)]


def _sample(dtype: torch.dtype, shape: tuple[int, ...]) -> torch.Tensor:
    """Random elements with arbitrary bit patterns (NaN payloads, subnormals, ...)."""
    size = math.prod(shape) * torch.empty(0, dtype=dtype).element_size()
    if size == 0:
        return torch.empty(shape, dtype=dtype)
    raw = torch.from_numpy(np.random.default_rng(7).integers(0, 256, size, dtype=np.uint8))
    if dtype == torch.bool:
        return (raw & 1).bool().reshape(shape)
    return raw.view(dtype).reshape(shape)


@pytest.mark.parametrize("name", _dtype_names())
@pytest.mark.parametrize("shape", [(), (0,), (3, 0, 2), (7,), (5, 6)])
def test_every_dtype_and_shape_roundtrips(tmp_path: Path, name: str, shape: tuple[int, ...]) -> None:
    tensor = _sample(getattr(torch, name), shape)
    assert_bit_exact(roundtrip(tmp_path, {"t": tensor}), {"t": tensor})


@pytest.mark.parametrize("name", _dtype_names())
@pytest.mark.parametrize("shape", [(0,), (3, 0, 2)])
def test_empty_tensors_load_with_torch_strides(tmp_path: Path, name: str, shape: tuple[int, ...]) -> None:
    """As torch.empty makes them, not zero strides (torch.from_numpy's for an empty array,
    which view() to another element size refuses)."""
    tensor = torch.empty(shape, dtype=getattr(torch, name))
    pycodec.save({"t": tensor}, tmp_path / "e.dcz")
    with pycodec.open(tmp_path / "e.dcz") as file:
        for loaded in (pycodec.load(tmp_path / "e.dcz")["t"], file.get_tensor("t")):
            assert loaded.shape == tensor.shape and loaded.dtype == tensor.dtype
            assert loaded.stride() == tensor.stride()
            assert loaded.view(torch.uint8).numel() == 0


def test_special_float_values_survive_raw_and_compressed(tmp_path: Path) -> None:
    nan_payload = torch.tensor([0x7FC00123], dtype=torch.int32).view(torch.float32)
    special = torch.cat([torch.tensor([-0.0, 0.0, float("inf"), -float("inf"), float("nan")]), nan_payload])
    raw = special.clone()
    pruned = torch.zeros(10_000)
    # sparse: -0.0 and NaNs are non-zero codebook values (random places and order: no runs
    # for zstd, 5.8, to match)
    generator = torch.Generator().manual_seed(0)
    pruned[torch.randperm(10_000, generator=generator)[:200]] = special.repeat(34)[torch.randperm(200, generator=generator)]
    state = {"raw": raw, "pruned": pruned}
    path = tmp_path / "s.dcz"
    pycodec.save(state, path)
    assert encodings_of(path)["pruned"] == "sparse"
    assert_bit_exact(pycodec.load(path), state)


def test_negative_zero_is_not_pruned_away(tmp_path: Path) -> None:
    tensor = torch.zeros(4096)
    tensor[100] = -0.0
    tensor[200] = 1.0
    loaded = roundtrip(tmp_path, {"t": tensor})["t"]
    assert torch.signbit(loaded[100]) and loaded[200] == 1.0
    assert int(torch.signbit(loaded).sum()) == 1


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_compressed_encodings_for_every_float_width(tmp_path: Path, dtype: torch.dtype) -> None:
    torch.manual_seed(3)
    tensor = torch.randn(100, 100).to(dtype)
    tensor[tensor.abs() < 1.6] = 0
    tensor = torch.where(tensor > 0, 0.5, torch.where(tensor < 0, -0.5, 0.0)).to(dtype)
    path = tmp_path / "f.dcz"
    pycodec.save({"t": tensor}, path)
    assert encodings_of(path)["t"] == "sparse"
    assert_bit_exact(pycodec.load(path), {"t": tensor})


def test_all_zero_tensor_is_tiny(tmp_path: Path) -> None:
    state = {"z": torch.zeros(1000, 1000)}
    path = tmp_path / "z.dcz"
    pycodec.save(state, path)
    assert encodings_of(path)["z"] == "codebook"
    assert path.stat().st_size < 1000
    assert_bit_exact(pycodec.load(path), state)


def test_non_contiguous_tensors(tmp_path: Path) -> None:
    base = torch.arange(60, dtype=torch.float32).reshape(6, 10)
    state = {"t": base.t(), "strided": base[::2, 1::3], "expanded": torch.ones(3, 1).expand(3, 5)}
    assert_bit_exact(roundtrip(tmp_path, state), state)


def test_many_distinct_values_use_no_codebook(tmp_path: Path) -> None:
    """Normal floats: too many distinct values for a codebook; their sign and exponent
    byte codes well (planes). Random bit patterns compress in no plane: raw."""
    torch.manual_seed(4)
    path = tmp_path / "r.dcz"
    noise = torch.randint(-(2**31), 2**31 - 1, (300, 300), dtype=torch.int32).view(torch.float32)
    state = {"w": torch.randn(300, 300), "noise": noise}
    pycodec.save(state, path)
    assert encodings_of(path) == {"w": "planes", "noise": "raw"}
    assert_bit_exact(pycodec.load(path), state)


def test_codebook_of_more_than_256_values_uses_16_bit_indices(tmp_path: Path) -> None:
    torch.manual_seed(5)
    centroids = torch.randn(1000)
    state = {"w": centroids[torch.randint(0, 1000, (300, 300))]}
    path = tmp_path / "w.dcz"
    pycodec.save(state, path)
    assert encodings_of(path) == {"w": "codebook"}
    assert_bit_exact(pycodec.load(path), state)


def test_compress_false_stores_raw(tmp_path: Path) -> None:
    path = tmp_path / "r.dcz"
    state = {"z": torch.zeros(100, 100)}
    pycodec.save(state, path, compress=False)
    assert encodings_of(path) == {"z": "raw"}
    assert_bit_exact(pycodec.load(path), state)


# ----------------------------------------------------------------- aliases


def test_tied_weights_are_stored_once_and_tied_on_load(tmp_path: Path) -> None:
    embedding = nn.Embedding(100, 32)
    head = nn.Linear(32, 100, bias=False)
    head.weight = embedding.weight
    model = nn.ModuleDict({"embed": embedding, "head": head})
    path = tmp_path / "tied.dcz"
    pycodec.save(model, path)
    assert encodings_of(path) == {"embed.weight": "planes", "head.weight": "alias"}
    assert path.stat().st_size < 100 * 32 * 4 + 1024
    loaded = pycodec.load(path)
    assert loaded["head.weight"].untyped_storage().data_ptr() == loaded["embed.weight"].untyped_storage().data_ptr()
    loaded["embed.weight"][0, 0] = 123.0
    assert loaded["head.weight"][0, 0] == 123.0


def test_views_at_other_offsets_are_stored_separately(tmp_path: Path) -> None:
    base = torch.arange(20, dtype=torch.float32)
    state = {"all": base, "tail": base[10:], "reshaped": base.view(4, 5)}
    path = tmp_path / "v.dcz"
    pycodec.save(state, path)
    assert encodings_of(path) == {"all": "raw", "tail": "raw", "reshaped": "raw"}
    assert_bit_exact(pycodec.load(path), state)


def test_lazy_alias_and_map_location(tmp_path: Path) -> None:
    weight = torch.randn(8, 8)
    path = tmp_path / "a.dcz"
    pycodec.save({"a": weight, "b": weight}, path)
    with pycodec.open(path) as file:
        assert bits_of(file.tensor("b", map_location=torch.device("cpu"))) == bits_of(weight)


# ----------------------------------------------------------------- lazy reader


def test_open_lists_and_decodes_one_tensor_without_reading_others(tmp_path: Path, monkeypatch) -> None:
    model = mlp()
    deep_compress_(model, 0.1, 5)
    path = tmp_path / "m.dcz"
    pycodec.save(model, path, metadata={"arch": "mlp", "note": "é"})
    with pycodec.open(path) as file:
        assert file.metadata == {"arch": "mlp", "note": "é"}
        assert file.names() == list(model.state_dict())
        info = file.info("2.weight")
        assert (info.encoding, info.shape, info.numel) == ("sparse", (100, 300), 30000)
        assert info.nnz == int((model[2].weight != 0).sum())
        assert info.codebook_size is not None and info.codebook_size <= 32
        reads: list[tuple[int, int]] = []
        source = file._source
        original = source.read_at

        def spy(offset: int, length: int, into=None):
            reads.append((offset, length))
            return original(offset, length, into)

        monkeypatch.setattr(source, "read_at", spy)
        tensor = file.tensor("4.bias")
        assert bits_of(tensor) == bits_of(model[4].bias)
        own = file.entry("4.bias").sections["data"]
        assert reads == [(own.offset, own.length)]
        with pytest.raises(KeyError, match="no tensor named"):
            file.entry("missing")


def test_empty_state_dict_and_metadata_only(tmp_path: Path) -> None:
    path = tmp_path / "e.dcz"
    pycodec.save({}, path, metadata={"k": "v"})
    assert pycodec.load(path) == {}
    with pycodec.open(path) as file:
        assert file.metadata == {"k": "v"} and len(file) == 0


# ----------------------------------------------------------------- encoder choices


@pytest.mark.parametrize("density", [0.005, 0.04, 0.1, 0.3, 0.7])
def test_gap_width_chosen_from_statistics_is_near_the_best(density: float) -> None:
    """The width is picked from the gap histogram's entropy, without trial encodings: it
    must code within 2% of the best width tried in full, and the planner's size is exact
    up to a byte per substream."""
    rng = np.random.default_rng(8)
    positions = np.sort(rng.choice(200_000, int(200_000 * density), replace=False)).astype(np.int64)
    bits = np.zeros(200_000, np.uint32)
    bits[positions] = 1
    found = encodings.scan(bits.view(np.float32), DTYPES["float32"])
    assert np.array_equal(found.positions, positions)
    plan = encodings.plan_gaps(found.gap_histogram, found.long_gaps)
    actual = {b: len(pycodec.codec.huffman_encode(pycodec.codec.relative_index_encode(positions, b)))
              for b in range(1, 17)}
    assert actual[plan.index_bits] <= 1.02 * min(actual.values()) + 8
    assert 0 <= actual[plan.index_bits] - plan.size + 4 <= 8


def _reference_gap_plan(histogram: np.ndarray, long_gaps: np.ndarray) -> tuple[int, int]:
    """The numpy planner the native one replaced: (bits, size), to rank widths alike."""
    used = np.flatnonzero(histogram)
    histogram = histogram[: used[-1] + 1 if used.size else 0].astype(np.int64)
    longest = int(long_gaps.max()) if long_gaps.size else histogram.size - 1
    widest = min(16, max(1, (longest + 1).bit_length()))
    plans = {}
    for bits in range(1, widest + 1):
        filler = (1 << bits) - 1
        values = np.arange(histogram.size)
        counts = np.rint(np.bincount(values % filler, weights=histogram, minlength=filler + 1)).astype(np.int64)
        counts[:filler] += np.bincount(long_gaps % filler, minlength=filler)[:filler]
        counts[filler] += int(np.dot(values // filler, histogram)) + int((long_gaps // filler).sum())
        used_counts = counts[counts > 0].astype(np.float64)
        estimate = 4.0 if used_counts.size <= 1 else float(
            (used_counts * np.maximum(1.0, np.log2(used_counts.sum() / used_counts))).sum() / 8 + 1.5 * used_counts.size + 16)
        plans[bits] = (estimate, counts)
    cutoff = min(estimate for estimate, _ in plans.values()) * 1.01
    sized = [(pycodec.codec.huffman_plan_size(counts, 8 if bits <= 8 else 16), bits)
             for bits, (estimate, counts) in plans.items() if estimate <= cutoff]
    size, bits = min(sized)
    return bits, size


@pytest.mark.parametrize("seed", range(6))
def test_native_gap_planner_ranks_widths_as_the_numpy_one(seed: int) -> None:
    """plan_gaps runs natively; on masks of every density, size and clustering (long gaps
    past the histogram included) it picks the width and size numpy's version did."""
    rng = np.random.default_rng(seed)
    for size in (5, 16, 100, 1000, 20_000, 300_000):
        for density in (0.001, 0.01, 0.1, 0.5, 0.9, 0.99):
            mask = rng.random(size) < density
            if seed % 2:  # runs of zeros and non-zeros
                mask = np.repeat(rng.random(size // 7 + 1) < density, 7)[:size]
            if not 0 < mask.sum() < size:
                continue
            found = encodings.scan(mask.astype(np.uint32).view(np.float32), DTYPES["float32"])
            plan = encodings.plan_gaps(found.gap_histogram, found.long_gaps)
            assert (plan.index_bits, plan.size) == _reference_gap_plan(found.gap_histogram, found.long_gaps)


def test_planner_sizes_streams_exactly_up_to_substream_padding() -> None:
    rng = np.random.default_rng(3)
    for n, alphabet in [(10, 3), (5000, 40), (100_000, 300), (1, 1), (0, 1)]:
        symbols = rng.zipf(1.3, n).clip(max=alphabet) - 1 if n else np.zeros(0, np.int64)
        dtype = np.uint8 if alphabet <= 256 else np.uint16
        symbols = symbols.astype(dtype)
        counts = np.bincount(symbols, minlength=alphabet)
        planned = pycodec.codec.huffman_plan_size(counts, 8 if dtype is np.uint8 else 16)
        actual = len(pycodec.codec.huffman_encode(symbols))
        assert abs(planned - actual) <= 4, (n, alphabet, planned, actual)


def test_find_codebook_refuses_more_than_65536_values() -> None:
    values = np.arange(70_000, dtype=np.uint32)
    assert encodings.find_codebook(values) is None
    rng = np.random.default_rng(9)
    few = rng.choice(np.arange(5000, dtype=np.uint32) * 7919, 3_000_000)
    book, indices = encodings.find_codebook(few)
    assert np.array_equal(book[indices], few)
    assert np.array_equal(book, np.unique(few))


@settings(max_examples=60, deadline=None)
@given(
    numel=st.integers(0, 3000),
    density=st.floats(0.0, 1.0),
    levels=st.integers(1, 300),
    dtype=st.sampled_from(["float32", "float16", "bfloat16", "float64"]),
    seed=st.integers(0, 2**32 - 1),
)
def test_property_pruned_quantized_tensors_roundtrip(tmp_path_factory, numel, density, levels, dtype, seed) -> None:
    rng = np.random.default_rng(seed)
    centroids = torch.from_numpy(rng.standard_normal(levels).astype(np.float32))
    values = centroids[torch.from_numpy(rng.integers(0, levels, numel))]
    values[torch.from_numpy(rng.random(numel) > density)] = 0.0
    tensor = values.to(getattr(torch, dtype))
    path = tmp_path_factory.mktemp("p") / "p.dcz"
    pycodec.save({"t": tensor}, path)
    assert_bit_exact(pycodec.load(path), {"t": tensor})
    assert dtype_row(tensor.dtype).name == dtype


# ----------------------------------------------------------------- map_location forms


def _map_location_file(tmp_path: Path) -> tuple[Path, dict[str, torch.Tensor]]:
    torch.manual_seed(3)
    weight = torch.randn(6, 5)
    state = {"w": weight, "tied": weight, "idx": torch.arange(7), "half": torch.randn(3).half()}
    path = tmp_path / "ml.dcz"
    pycodec.save(state, path)
    return path, state


@pytest.mark.parametrize(
    "map_location", ["cpu", torch.device("cpu"), None],
    ids=["str", "device", "none"],
)
def test_map_location_cpu_forms_load_bit_exact_with_aliases_shared(tmp_path: Path, map_location) -> None:
    path, state = _map_location_file(tmp_path)
    loaded = pycodec.load(path, map_location=map_location)
    assert_bit_exact(loaded, state)
    assert all(t.device == torch.device("cpu") for t in loaded.values())
    assert loaded["tied"].untyped_storage().data_ptr() == loaded["w"].untyped_storage().data_ptr()
    with pycodec.open(path) as file:
        for name in state:
            lazy = file.tensor(name, map_location=map_location)
            assert lazy.device == torch.device("cpu") and bits_of(lazy) == bits_of(state[name])


@pytest.mark.parametrize("map_location", ["meta", torch.device("meta")], ids=["str", "device"])
def test_map_location_meta_gives_shapes_and_dtypes_without_data(tmp_path: Path, map_location) -> None:
    path, state = _map_location_file(tmp_path)
    loaded = pycodec.load(path, map_location=map_location)
    assert list(loaded) == list(state)
    with pycodec.open(path) as file:
        lazy = {name: file.tensor(name, map_location=map_location) for name in state}
    for tensors in (loaded, lazy):
        for name, original in state.items():
            got = tensors[name]
            assert got.is_meta, name
            assert (got.dtype, got.shape) == (original.dtype, original.shape), name


@pytest.mark.parametrize(
    "map_location",
    [{"cpu": "cpu"}, {"cuda:0": "cpu"}, {"cpu": "meta"}, lambda storage, location: storage,
     lambda storage, location: None],
    ids=["dict-identity", "dict-other-key", "dict-meta", "callable-identity", "callable-none"],
)
def test_map_location_dict_and_callable_forms_as_torch_load(tmp_path: Path, map_location) -> None:
    path, state = _map_location_file(tmp_path)
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    reference = torch.load(buffer, map_location=map_location)
    loaded = pycodec.load(path, map_location=map_location)
    with pycodec.open(path) as file:
        lazy = {name: file.get_tensor(name, map_location=map_location) for name in state}
    for got in (loaded, lazy):
        for name, want in reference.items():
            assert got[name].device == want.device and got[name].dtype == want.dtype, name
            assert got[name].shape == want.shape
            if not want.is_meta:
                assert bits_of(got[name]) == bits_of(want)


@pytest.mark.parametrize("map_location", [torch.float16, torch.float32, 3.5, object()])
def test_map_location_never_casts_and_refuses_what_torch_load_refuses(tmp_path: Path, map_location) -> None:
    path, _ = _map_location_file(tmp_path)
    with pytest.raises(TypeError, match="dtype|map_location"):
        pycodec.load(path, map_location=map_location)
    with pycodec.open(path) as file, pytest.raises(TypeError, match="dtype|map_location"):
        file.get_tensor("w", map_location=map_location)


@pytest.mark.parametrize("encoding", ["raw", "codebook", "sparse", "sparse_raw", "planes", "zstd", "alias"])
def test_a_serialized_tensor_object_holds_exactly_its_encodings_members(encoding: str) -> None:
    """serialize_header spells the members out rather than walking the member tables: it
    must still write exactly the members the tables (and the parser) name."""
    from pycodec.format import syntax

    roles = syntax.SECTION_ROLES[encoding]
    entry = syntax.TensorEntry("t", "float32", (2, 3), encoding, {role: syntax.Section(7, 99) for role in roles},
                               index_bits=4 if "index_bits" in syntax._ENCODING_KEYS[encoding] else None,
                               alias_of="s" if encoding == "alias" else None,
                               plane_streams=(0, 0, 5, 7) if encoding == "planes" else None)
    document = json.loads(syntax.serialize_header(syntax.Header(metadata={"k": "v"}, tensors=[entry])))
    expected = {name for name, _ in syntax.COMMON_MEMBERS + syntax.ENCODING_MEMBERS[encoding]}
    assert set(document["tensors"][0]) == expected
    assert all(document["tensors"][0][role] == {name: value for (name, _), value in
                                                zip(syntax.SECTION_MEMBERS, (99, 7))} for role in roles)
