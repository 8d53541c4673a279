"""Builds the native core ``pycodec._core`` from ``csrc/`` (C++17, pybind11)."""

from pybind11.setup_helpers import Pybind11Extension, build_ext
from setuptools import setup

# Listed, not globbed, so builds are reproducible.
SOURCES = [
    "csrc/bindings.cpp",
    "csrc/huffman_code.cpp",
    "csrc/huffman_encode.cpp",
    "csrc/huffman_decode.cpp",
    "csrc/huffman_stream.cpp",
    "csrc/relative_index.cpp",
    "csrc/scatter.cpp",
]

core = Pybind11Extension(
    "pycodec._core",
    SOURCES,
    include_dirs=["csrc"],
    cxx_std=17,
    extra_compile_args=["-O3", "-Wall", "-Wextra", "-fno-math-errno"],
)

setup(ext_modules=[core], cmdclass={"build_ext": build_ext})
