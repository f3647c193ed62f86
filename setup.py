"""pip install . --no-build-isolation: the moekit Python package.

The extension moekit._C is built by the project's CMake (target moekit_python)
against the LibTorch of the installed torch; the pure-Python modules come from
python/moekit. MOEKIT_BUILD_DIR reuses a build tree (default build-python).
"""
import os
import shutil
import subprocess
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = os.path.dirname(os.path.abspath(__file__))


class CMakeExtension(Extension):
    def __init__(self, name: str) -> None:
        super().__init__(name, sources=[])


class CMakeBuild(build_ext):
    def build_extension(self, ext: Extension) -> None:
        build_dir = os.path.abspath(os.environ.get("MOEKIT_BUILD_DIR", os.path.join(ROOT, "build-python")))
        jobs = os.environ.get("MOEKIT_JOBS", "2")
        subprocess.check_call(["cmake", "-S", ROOT, "-B", build_dir, "-G", "Ninja",
                               "-DCMAKE_BUILD_TYPE=Release", f"-DPython3_EXECUTABLE={sys.executable}"])
        subprocess.check_call(["cmake", "--build", build_dir, "--target", "moekit_python", "-j", jobs])
        built = os.path.join(build_dir, "python", "moekit", os.path.basename(self.get_ext_filename(ext.name)))
        if not os.path.exists(built):
            raise RuntimeError(f"{built}: not built (see CMake's 'moekit Python package' line)")
        target = self.get_ext_fullpath(ext.name)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copyfile(built, target)


setup(
    name="moekit",
    version="0.1.0",
    description="Sparse Mixture-of-Experts layers, gates (COMET, DSelect-k, THOR, ...) and "
                "permutation local search for PyTorch, on moekit's C++ core",
    package_dir={"": "python"},
    packages=["moekit"],
    ext_modules=[CMakeExtension("moekit._C")],
    cmdclass={"build_ext": CMakeBuild},
    python_requires=">=3.9",
    install_requires=["torch"],
)
