"""Writing ``.dcz`` files from numpy arrays (:class:`~pycodec.format.tensors.StoredTensor`).

Steps: check names, shapes and alias targets (:func:`check_tensors`), encode each stored
tensor (:mod:`pycodec.format.encodings`), serialize the header once and lay the sections
out behind it (:func:`plan_layout`, spec 3.2–3.3), then write to a file object as it goes,
or to a temporary file in the destination's directory that is fsynced and renamed over
the destination (:func:`write_atomically`), so a failure never leaves a partial file.
"""

from __future__ import annotations

import collections
import contextlib
import math
import os
import stat
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, BinaryIO, Generic, TypeVar

import numpy as np

from pycodec import _core, codec
from pycodec.errors import DataChangedError, NotRegularFileError, UnsupportedTensorError
from pycodec.format import limits
from pycodec.format.dtypes import DTYPES, DType
from pycodec.format.encodings import (PLANES_PARALLEL_FROM_BYTES, Chosen, EncodedTensor, Payload, choose_dense,
                                      choose_encoding, encode_tensor, planes_encoded, probe_ahead, worth_probing_all)
from pycodec.format.source import describe_file_type
from pycodec.format.tensors import StoredTensor
from pycodec.format.layout import layout, section_alignment
from pycodec.format.syntax import (
    HEADER_ZLIB,
    SECTION_ROLES,
    Header,
    Preamble,
    Section,
    TensorEntry,
    pack_header,
    serialize_header,
)

PathLike = str | os.PathLike[str]


@dataclass
class PlannedSection:
    """A section's place, bytes and checksum, and the tensor it belongs to."""

    offset: int
    payload: Payload
    crc32: int
    tensor: str
    data: memoryview  # the payload's bytes
    borrowed: bool = False  # the tensor's own memory (a raw section): it may change under us


@dataclass
class PlannedFile:
    """Everything to write: the stored header, its flags and each section's offset and payload."""

    header: bytes  # as stored: plain JSON, or zlib when flags has HEADER_ZLIB
    flags: int
    sections: list[PlannedSection]  # in file order
    file_length: int


# ----------------------------------------------------------------- inputs


def check_tensors(tensors: Mapping[str, StoredTensor]) -> None:
    """Names, shapes, dtypes and alias targets against the format's limits (spec 4.3, 6)."""
    if len(tensors) > limits.MAX_TENSORS:
        raise ValueError(f"{len(tensors)} tensors exceed the format's limit of {limits.MAX_TENSORS}")
    seen: set[str] = set()
    for name, tensor in tensors.items():
        _check_name(name)
        if tensor.dtype not in DTYPES:
            raise UnsupportedTensorError(f"{name!r}: dtype {tensor.dtype} cannot be stored in a .dcz file")
        shape = tensor.shape
        if len(shape) > limits.MAX_RANK:
            raise ValueError(f"{name!r}: rank {len(shape)} exceeds {limits.MAX_RANK}")
        if max(shape, default=0) > limits.MAX_DIM or limits.shape_volume(shape) > limits.MAX_NUMEL:
            raise ValueError(f"{name!r}: shape {tuple(shape)} exceeds the format's limits")
        if tensor.alias_of is not None:
            target = tensors.get(tensor.alias_of)
            if tensor.alias_of not in seen or target is None or target.alias_of is not None:
                raise ValueError(f"{name!r}: alias_of {tensor.alias_of!r} is not an earlier stored tensor")
            if (target.dtype, target.shape) != (tensor.dtype, tensor.shape):
                raise ValueError(f"{name!r}: dtype or shape differs from its alias target")
        elif tensor.array is None or tensor.array.size != math.prod(shape):
            raise ValueError(f"{name!r}: expected a flat array of {math.prod(shape)} elements")
        seen.add(name)


def _check_name(name: Any) -> None:
    if not isinstance(name, str):
        raise TypeError(f"tensor names must be strings, got {type(name).__name__}")
    size = len(name.encode("utf-8", errors="strict"))
    if not 1 <= size <= limits.MAX_NAME_BYTES:
        raise ValueError(f"tensor name {name[:40]!r}: {size} bytes, allowed 1..{limits.MAX_NAME_BYTES}")


def check_metadata(metadata: Mapping[str, str] | None) -> dict[str, str]:
    """Metadata as a plain dict after checking types and the format's limits."""
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping):
        raise TypeError(f"metadata must map str to str, got {type(metadata).__name__}")
    if len(metadata) > limits.MAX_METADATA_ENTRIES:
        raise ValueError(f"{len(metadata)} metadata entries exceed {limits.MAX_METADATA_ENTRIES}")
    result = {}
    for key, value in metadata.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise TypeError(f"metadata must map str to str, got {type(key).__name__}: {type(value).__name__}")
        if not 1 <= len(key.encode("utf-8")) <= limits.MAX_METADATA_KEY_BYTES:
            raise ValueError(f"metadata key {key[:40]!r} must be 1..{limits.MAX_METADATA_KEY_BYTES} bytes")
        if len(value.encode("utf-8")) > limits.MAX_METADATA_VALUE_BYTES:
            raise ValueError(f"metadata value of {key!r} exceeds {limits.MAX_METADATA_VALUE_BYTES} bytes")
        result[key] = value
    return result


# ----------------------------------------------------------------- layout


def _payload_bytes(payload: Payload) -> memoryview:
    if isinstance(payload, np.ndarray):
        return memoryview(np.ascontiguousarray(payload).reshape(-1).view(np.uint8))
    return memoryview(payload)


def plan_layout(
    entries: list[TensorEntry],
    payloads: dict[str, dict[str, Payload]],
    metadata: dict[str, str],
    *,
    compress_header: bool = True,
    checksums: Mapping[str, Mapping[str, int]] | None = None,
) -> PlannedFile:
    """Serialize the header once and lay the sections out behind it (spec 3.3).
    `checksums`: the CRC-32s of sections the encoder computed (by tensor, then role); the
    others are computed here.

    The header holds lengths and CRCs only, so it does not depend on its own length: the
    entries' sections get those, the planned sections their offsets too. With
    `compress_header` it is stored zlib-compressed (flag ``HEADER_ZLIB``) when that is
    shorter than plain JSON.
    """
    ordered: list[tuple[TensorEntry, str, memoryview, Payload]] = []
    known = checksums or {}
    for entry in entries:
        computed = known.get(entry.name, {})
        for role in SECTION_ROLES[entry.encoding]:
            payload = payloads[entry.name][role]
            data = _payload_bytes(payload)
            crc = computed.get(role)
            entry.sections[role] = Section(len(data), codec.crc32(data) if crc is None else crc)
            ordered.append((entry, role, data, payload))
    text = serialize_header(Header(metadata=metadata, tensors=entries))
    if len(text) > limits.MAX_HEADER_LENGTH:
        raise ValueError(f"header of {len(text)} bytes exceeds the format's {limits.MAX_HEADER_LENGTH}")
    stored, flags = text, 0
    if compress_header:
        zipped = pack_header(text, HEADER_ZLIB)
        if len(zipped) < len(text):
            stored, flags = zipped, HEADER_ZLIB
    placed = layout(len(stored), ((section_alignment(e.encoding), len(d)) for e, _, d, _ in ordered))
    sections = [PlannedSection(offset, payload, entry.sections[role].crc32, entry.name, data, entry.encoding == "raw")
                for (entry, role, data, payload), offset in zip(ordered, placed.offsets, strict=True)]
    return PlannedFile(stored, flags, sections, placed.file_length)


#: Raw bytes of stored tensors from which :func:`encode_all` encodes two tensors at a time
#: (the codec and zstd's compress release the GIL: a thread of Python kept its pace beside
#: a thread making frames, 0.87-1.04 of its rate alone): the calling thread and
#: a helper kept for later saves take the tensors largest first. Below it the handover
#: costs about what it saves (in memory, 2 cores, median of 30: Silero VAD float32, 1.2 MB
#: with a 258 KiB zstd frame, 4.06 -> 3.02 ms; its 0.6 MB bfloat16 2.69 -> 3.22 ms).
ENCODE_PARALLEL_FROM_BYTES = 1 << 20
#: A save whose tensors worth a zstd probe hold at least this share of its bytes keeps to
#: the one-thread path, those tensors encoded on the helper, even past
#: ENCODE_PARALLEL_FROM_BYTES: a frame costs about six times the planes coding of as many
#: bytes, so they keep the helper about as busy as the coding keeps this thread, without
#: two threads of Python taking turns on the GIL. Silero VAD float32 (a 258 KiB Fourier
#: basis in 1.2 MB): 0.92-0.95 of the two-thread time.
PROBED_SHARE_FOR_ONE_THREAD = 1 / 8
#: Tensors encoded at once: the caller and ENCODE_THREADS - 1 helpers.
ENCODE_THREADS = 2
#: The helpers encode tensors of at least this many raw bytes only, the calling thread all
#: the smaller ones after them. A small tensor's encoding is mostly Python, and two threads
#: running Python take turns on the GIL at every native call: MobileNetV2's 314 tensors
#: (260 of them batch-norm vectors) took 1.4x as long on two threads as on one.
HELPER_MIN_BYTES = 1 << 16
#: On the one-thread path, ``planes`` sections of at least this many raw bytes are coded on
#: a native thread of their own while this one chooses the next tensors' encodings.
CODER_FROM_BYTES = 1 << 14

_T = TypeVar("_T")


class _Kept(Generic[_T]):
    """An object made on first use and kept for later saves: starting threads for every
    save costs about what a small model's encoding saves. A forked child makes its own
    (the parent's threads do not exist there)."""

    def __init__(self, make: Callable[[], _T]):
        self._make = make
        self._value: _T | None = None
        self._pid = 0
        self._lock = threading.Lock()

    def get(self) -> _T:
        with self._lock:
            if self._value is None or self._pid != os.getpid():
                self._value, self._pid = self._make(), os.getpid()
            return self._value


#: The encoding helpers (ENCODE_THREADS - 1 of them, as it is when they start).
_helpers = _Kept(lambda: ThreadPoolExecutor(max_workers=ENCODE_THREADS - 1, thread_name_prefix="pycodec-encode"))
#: The planes coder (its native thread too).
_coder = _Kept(codec.PlanesCoder)


def encode_all(
    tensors: Mapping[str, StoredTensor], *, compress: bool = True
) -> tuple[list[TensorEntry], dict[str, dict[str, Payload]], dict[str, dict[str, int]]]:
    """The tensor table (sections still unplaced), each stored tensor's payloads, and the
    checksums of those sections the encoder computed (by tensor, then role)."""
    encoded = _encode_stored({name: t for name, t in tensors.items() if t.alias_of is None}, compress)
    entries: list[TensorEntry] = []
    payloads: dict[str, dict[str, Payload]] = {}
    checksums: dict[str, dict[str, int]] = {}
    for name, tensor in tensors.items():
        if tensor.alias_of is not None:
            entries.append(TensorEntry(name, tensor.dtype, tensor.shape, "alias", alias_of=tensor.alias_of))
            continue
        done = encoded[name]
        entries.append(TensorEntry(name, DTYPES[tensor.dtype].name, tensor.shape, done.encoding,
                                   index_bits=done.index_bits, plane_streams=done.plane_streams))
        payloads[name] = done.payloads
        if done.checksums is not None:
            checksums[name] = done.checksums
    return entries, payloads, checksums


def _flat(tensor: StoredTensor) -> tuple[np.ndarray, DType]:
    dtype = DTYPES[tensor.dtype]
    return np.ascontiguousarray(tensor.array).reshape(-1).view(dtype.storage), dtype


def _largest_first(flats: Mapping[str, tuple[np.ndarray, DType]], names: Iterable[str] | None = None) -> list[str]:
    """`names` (default: every tensor of `flats`) by raw bytes, the largest first."""
    return sorted(flats if names is None else names, key=lambda name: -flats[name][0].nbytes)


def _encode_ahead(flat: np.ndarray, dtype: DType) -> EncodedTensor:
    """A tensor worth a zstd probe, encoded on the helper: its probe first (a frame is the
    longest step of a save that has one), then its choice."""
    found = probe_ahead(flat, dtype)
    return encode_tensor(flat, dtype, probe=lambda: found)


def encodes_ahead(flats: Mapping[str, tuple[np.ndarray, DType]]) -> dict[str, Future[EncodedTensor]]:
    """The tensors worth a zstd probe, each encoded on the helper thread (its frame or
    sample compressed there, zstd and the codec releasing the GIL, then its choice, while
    this thread is in the core's choice of the others), largest first. The cheap gate is
    asked here, once, for every tensor in one native call."""
    started: dict[str, Future[EncodedTensor]] = {}
    order = _largest_first(flats)
    for name, worth in zip(order, worth_probing_all([flats[name] for name in order]), strict=True):
        if worth:
            started[name] = _helpers.get().submit(_encode_ahead, *flats[name])
    return started


def _taken_back(ahead: Mapping[str, Future[EncodedTensor]],
                flats: Mapping[str, tuple[np.ndarray, DType]]) -> dict[str, EncodedTensor]:
    """The tensors encoded ahead, smallest first: those the helper has not begun (it works
    from the largest) encoded here instead of waited for."""
    done: dict[str, EncodedTensor] = {}
    for name in reversed(_largest_first(flats, ahead)):
        done[name] = _encode_ahead(*flats[name]) if ahead[name].cancel() else ahead[name].result()
    return done


def _encode_stored(stored: Mapping[str, StoredTensor], compress: bool) -> dict[str, EncodedTensor]:
    """Each stored tensor encoded: those worth a zstd probe on a helper
    (:func:`encodes_ahead`), those no probe can win decided by the core where it can
    (:func:`_encode_natively`), the rest on this thread, or from
    ENCODE_PARALLEL_FROM_BYTES on (unless the probed tensors are a large share of the work,
    PROBED_SHARE_FOR_ONE_THREAD) by this thread and the helpers together. Same bytes either
    way: a tensor's encoding depends on that tensor alone."""
    flats = {name: _flat(tensor) for name, tensor in stored.items()}
    if not compress or len(stored) < 2 or ENCODE_THREADS < 2:
        return {name: encode_tensor(flat, dtype, compress=compress) for name, (flat, dtype) in flats.items()}
    ahead = encodes_ahead(flats)
    try:
        rest = {name: flats[name] for name in flats if name not in ahead}
        done = _encode_natively(rest, _opened_when_done(list(ahead.values())))
        rest = {name: rest[name] for name in rest if name not in done}
        total = sum(flat.nbytes for flat, _ in rest.values())
        probed = sum(flats[name][0].nbytes for name in ahead)
        if total < ENCODE_PARALLEL_FROM_BYTES or probed >= PROBED_SHARE_FOR_ONE_THREAD * (total + probed):
            done.update(_encode_beside_coder(rest, list(ahead.values())))
        else:
            done.update(_encode_together(rest))
        done.update(_taken_back(ahead, flats))
    finally:  # after an error, tensors not yet begun are dropped
        for future in ahead.values():
            future.cancel()
    return {name: done[name] for name in flats}


def _encode_natively(flats: Mapping[str, tuple[np.ndarray, DType]],
                     gate: _core.WorkerGate | None) -> dict[str, EncodedTensor]:
    """The tensors whose encoding the core decides and makes in one call, largest first,
    without the GIL (:func:`encodings.choose_dense`): dense trained weights, where only
    ``planes`` and ``raw`` can win (their probe's gate ruled ``zstd`` out). The others are
    left to the Python choice. This thread works alone until the `gate` opens (the helper
    is done with the probed tensors: a second native thread would slow their frames, which
    the save waits on), then ENCODE_THREADS threads."""
    names = _largest_first(flats)
    found = choose_dense([flats[name] for name in names], ENCODE_THREADS, gate)
    return {name: encoded for name, encoded in zip(names, found) if encoded is not None}


def _opened_when_done(futures: list[Future[Any]]) -> _core.WorkerGate | None:
    """A gate the last of `futures` opens as it ends (run, failed or cancelled); None
    where there are none."""
    if not futures:
        return None
    gate = _core.WorkerGate()
    left = [len(futures)]
    counting = threading.Lock()

    def one_done(_: Future[Any]) -> None:
        with counting:
            left[0] -= 1
            if left[0]:
                return
        gate.open()

    for future in futures:
        future.add_done_callback(one_done)
    return gate


def _encode_beside_coder(flats: Mapping[str, tuple[np.ndarray, DType]],
                         started: list[Future[Any]]) -> dict[str, EncodedTensor]:
    """Each tensor's encoding chosen and made on this thread, largest first, except that
    the ``planes`` sections of CODER_FROM_BYTES or more are coded meanwhile by the
    :class:`codec.PlanesCoder`'s native thread (which never waits for the GIL; a Python
    helper's coding did, for as long again as the coding) once the helper's `started`
    work is done: a third busy thread would compete with a frame that the save waits on,
    where 2 cores is all there is."""
    done: dict[str, EncodedTensor] = {}
    coded: collections.deque[tuple[str, Chosen, int]] = collections.deque()
    coder: codec.PlanesCoder | None = None  # fetched on first use
    helper_done = not started
    try:
        for name in _largest_first(flats):
            chosen = choose_encoding(*flats[name], probe=_no_probe)
            work = chosen.planes
            helper_done = helper_done or all(future.done() for future in started)
            if work is None or not helper_done or not CODER_FROM_BYTES <= chosen.flat.nbytes < PLANES_PARALLEL_FROM_BYTES:
                done[name] = chosen.encode()
                continue
            coder = coder or _coder.get()
            coded.append((name, chosen, coder.submit(work.bits, plane_mask=work.plane_mask, counted=work.counted)))
        while coded:
            name, chosen, job = coded.popleft()  # taken, whatever comes of it
            done[name] = chosen.finish(planes_encoded(*coder.result(job)))  # type: ignore[union-attr]
    finally:  # after an error, the jobs left are dropped (not coded if not begun)
        for _, _, job in coded:
            coder.drop(job)  # type: ignore[union-attr]
    return done


def _no_probe() -> None:
    """The probe of a tensor its gate ruled out (:func:`encodes_ahead` asked)."""
    return None


def _encode_one(flat: np.ndarray, dtype: DType) -> EncodedTensor:
    """A tensor of a save coded on several threads (not worth a probe)."""
    return encode_tensor(flat, dtype, probe=_no_probe)


def _encode_together(flats: Mapping[str, tuple[np.ndarray, DType]]) -> dict[str, EncodedTensor]:
    """Each tensor encoded by this thread and the helpers (once through the tensors encoded
    ahead, queued before), largest first so that no one ends on a big tensor alone; the
    helpers stop at the first tensor below HELPER_MIN_BYTES, which this thread takes with
    the rest."""
    order = collections.deque(_largest_first(flats))
    taking = threading.Lock()
    done: dict[str, EncodedTensor] = {}
    failed: list[BaseException] = []

    def work(min_bytes: int = 0) -> None:
        try:
            while not failed:
                with taking:
                    if not order or flats[order[0]][0].nbytes < min_bytes:
                        return
                    name = order.popleft()
                done[name] = _encode_one(*flats[name])
        except BaseException as exc:  # noqa: BLE001 - handed to the caller below
            failed.append(exc)

    helpers = [_helpers.get().submit(work, HELPER_MIN_BYTES) for _ in range(ENCODE_THREADS - 1)]
    work()
    wait([helper for helper in helpers if not helper.cancel()])  # one still queued (helpers busy with another save) has nothing left
    if failed:
        raise failed[0]
    return done


# ----------------------------------------------------------------- writing


def _write_all(file: BinaryIO, data: memoryview | bytes) -> None:
    """Write all of `data` (one place for tests to inject I/O errors)."""
    file.write(data)


#: Chunks shorter than :data:`SHORT_CHUNK_BYTES` are gathered into writes of up to
#: :data:`WRITE_BUFFER_BYTES`: a file of many small tensors is otherwise one system call
#: per section and padding (measured: Silero VAD's 23 chunks of 250 KB took 0.64 ms to
#: write one by one, 0.37 ms at once). Longer chunks are written as they are, not copied.
SHORT_CHUNK_BYTES = 64 << 10
WRITE_BUFFER_BYTES = 1 << 20


def _coalesced(chunks: Iterable[memoryview | bytes]) -> Iterator[memoryview | bytes]:
    """`chunks` in order, runs of short ones joined."""
    pending = bytearray()
    for chunk in chunks:
        short = len(chunk) < SHORT_CHUNK_BYTES
        if pending and (not short or len(pending) + len(chunk) > WRITE_BUFFER_BYTES):
            yield memoryview(pending)
            pending = bytearray()  # the view yielded keeps the old one
        if short:
            pending += chunk
        else:
            yield chunk
    if pending:
        yield memoryview(pending)


def _chunks(plan: PlannedFile) -> Iterable[memoryview | bytes]:
    preamble = Preamble(
        header_length=len(plan.header),
        header_crc32=codec.crc32(plan.header),
        file_length=plan.file_length,
        flags=plan.flags,
    )
    yield preamble.pack()
    yield plan.header
    end = limits.PREAMBLE_SIZE + len(plan.header)
    data_start = layout(len(plan.header), ()).data_start
    if data_start > end:
        yield bytes(data_start - end)
        end = data_start
    for section in plan.sections:
        if section.offset > end:
            yield bytes(section.offset - end)
        data = section.data
        yield data
        end = section.offset + len(data)
        if section.borrowed:
            _check_unchanged(section, data)


def _check_unchanged(section: PlannedSection, data: memoryview) -> None:
    """Raise where a section read from a tensor's memory no longer has the checksum the
    header was given (another thread wrote the tensor while it was being saved): the file
    would not load."""
    if codec.crc32(data) != section.crc32:
        raise DataChangedError(f"tensor {section.tensor!r} changed while it was being saved "
                               "(another thread writing it?); nothing valid was written")


#: Temporary files are named ``.dcz-tmp-`` plus 16 hex digits: 25 bytes whatever the
#: destination's name, so any name the file system accepts can be saved to.
TEMPORARY_PREFIX = ".dcz-tmp-"
_TEMPORARY_ATTEMPTS = 100


def resolve_target(path: PathLike) -> tuple[str, os.stat_result | None]:
    """The file `path` designates (symlinks followed, so a save lands on the link's
    target) and its status, or None if it does not exist yet.

    Refuses anything but a regular file: renaming over a FIFO, device or socket would
    replace it (as root, ``/dev/null`` itself). A symlink loop or an unreadable directory
    raises the operating system's ``OSError``.
    """
    target = os.path.realpath(os.fspath(path))
    try:
        status = os.stat(target)
    except FileNotFoundError:
        return target, None
    if not stat.S_ISREG(status.st_mode):
        raise NotRegularFileError(f"{os.fspath(path)!r} is {describe_file_type(status.st_mode)}, not a regular file")
    return target, status


def _new_file_mode(existing: os.stat_result | None) -> int:
    """Keep an existing regular file's permissions; otherwise what open() would give (umask)."""
    if existing is not None:
        return existing.st_mode & 0o7777
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _create_temporary(directory: str) -> tuple[int, str]:
    """A new, empty file of fixed-length name in `directory`, open for writing."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)
    for _ in range(_TEMPORARY_ATTEMPTS):
        temporary = os.path.join(directory, TEMPORARY_PREFIX + os.urandom(8).hex())
        try:
            return os.open(temporary, flags, 0o600), temporary
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name in {directory!r} after {_TEMPORARY_ATTEMPTS} attempts")


def write_atomically(path: PathLike, chunks: Iterable[memoryview | bytes]) -> None:
    """Write `chunks` to a temporary file beside the target of `path`, fsync, and rename it
    over the target (a symlink's target, so the link stays a link).

    On any error the temporary file is removed and the target is untouched.
    """
    target, existing = resolve_target(path)
    directory = os.path.dirname(target)
    fd, temporary = _create_temporary(directory)
    try:
        with os.fdopen(fd, "wb") as file:
            for chunk in _coalesced(chunks):
                _write_all(file, chunk)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, _new_file_mode(existing))
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    _fsync_directory(directory)


def _fsync_directory(directory: str) -> None:
    """Make the rename durable; not every platform can open a directory."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def plan(
    tensors: Mapping[str, StoredTensor],
    *,
    metadata: Mapping[str, str] | None = None,
    compress: bool = True,
    compress_header: bool = True,
) -> PlannedFile:
    """Check, encode and lay out `tensors`: everything short of writing."""
    checked_metadata = check_metadata(metadata)
    check_tensors(tensors)
    entries, payloads, checksums = encode_all(tensors, compress=compress)
    return plan_layout(entries, payloads, checked_metadata, compress_header=compress_header, checksums=checksums)


def save(
    tensors: Mapping[str, StoredTensor],
    target: PathLike | BinaryIO,
    *,
    metadata: Mapping[str, str] | None = None,
    compress: bool = True,
    compress_header: bool = True,
) -> None:
    """Write `tensors` to a path (atomically) or to a binary file object (as it goes)."""
    is_path = isinstance(target, (str, os.PathLike))
    if is_path:
        resolve_target(target)  # refuse a FIFO or device before the work of encoding
    elif not hasattr(target, "write"):
        raise TypeError(f"expected a path or a binary file object, got {type(target).__name__}")
    planned = plan(tensors, metadata=metadata, compress=compress, compress_header=compress_header)
    if is_path:
        write_atomically(target, _chunks(planned))
    else:
        for chunk in _coalesced(_chunks(planned)):
            _write_all(target, chunk)


def to_bytes(
    tensors: Mapping[str, StoredTensor], *, metadata: Mapping[str, str] | None = None, compress: bool = True
) -> bytes:
    """The bytes of the file :func:`save` would write."""
    return b"".join(_chunks(plan(tensors, metadata=metadata, compress=compress)))
