"""Builds the Cython hot path against the static, OpenSSL-backed libsrtp2 that scripts/setup.sh prepares."""
import os

from Cython.Build import cythonize
from setuptools import Extension, setup

HERE = os.path.dirname(os.path.abspath(__file__))
SRTP = os.path.join(HERE, "build", "libsrtp")

ext = Extension(
    "native.engine",
    ["native/engine.pyx"],
    include_dirs=[os.path.join(SRTP, "include")],
    extra_objects=[os.path.join(SRTP, "libsrtp2.a")],
    libraries=["crypto"],
    extra_compile_args=["-O2", "-Wno-unused-function"],
)

setup(
    ext_modules=cythonize(
        [ext],
        compiler_directives={"language_level": "3", "boundscheck": False, "wraparound": False},
        quiet=True,
    )
)
