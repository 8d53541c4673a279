"""Builds the native core ``pycodec._core`` from ``csrc/`` (C++17, pybind11)."""

import platform
import sys
from pathlib import Path

from pybind11.setup_helpers import Pybind11Extension, build_ext, has_flag
from setuptools import setup

# Listed, not globbed, so builds are reproducible.
SOURCES = [
    "csrc/bindings.cpp",
    "csrc/crc32.cpp",
    "csrc/huffman_code.cpp",
    "csrc/huffman_encode.cpp",
    "csrc/huffman_decode.cpp",
    "csrc/huffman_stream.cpp",
    "csrc/relative_index.cpp",
    "csrc/scatter.cpp",
    "csrc/codebook_index.cpp",
    "csrc/planes.cpp",
    "csrc/sections.cpp",
    "csrc/dense_choice.cpp",
    "csrc/parallel.cpp",
]

# Intel's JCC erratum mitigation makes jumps that cross or end on a 32-byte boundary slow;
# keeping the decoder's loop branches clear of them was worth about 15% here. Added only
# where the toolchain accepts it.
JCC_ALIGNMENT = "-Wa,-mbranches-within-32B-boundaries"


class BuildExt(build_ext):
    def build_extensions(self) -> None:
        x86_linux = sys.platform.startswith("linux") and platform.machine() == "x86_64"
        if x86_linux and has_flag(self.compiler, JCC_ALIGNMENT):
            for ext in self.extensions:
                ext.extra_compile_args.append(JCC_ALIGNMENT)
        super().build_extensions()


# What the sources include: an edit to one of these rebuilds the extension too (setuptools
# looks only at SOURCES otherwise, and an edited kernel .inc would leave a stale build).
DEPENDS = sorted(str(p) for pattern in ("*.hpp", "*.inc") for p in Path("csrc").glob(pattern))

core = Pybind11Extension(
    "pycodec._core",
    SOURCES,
    depends=DEPENDS,
    include_dirs=["csrc"],
    cxx_std=17,
    extra_compile_args=["-O3", "-Wall", "-Wextra", "-fno-math-errno"],
)

setup(ext_modules=[core], cmdclass={"build_ext": BuildExt})
