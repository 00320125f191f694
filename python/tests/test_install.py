"""`pip install ./python` into a virtual environment works, and the
nightly-batch example of docs/PYTHON.md runs there as written."""
import os
import re
import shutil
import subprocess
import sys

import pytest

import nslock
from conftest import TOP


def docs_example():
    with open(os.path.join(TOP, "docs", "PYTHON.md")) as f:
        text = f.read()
    section = text[text.index("## The nightly batch"):]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


@pytest.fixture(scope="module")
def venv(tmp_path_factory):
    d = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(d)], check=True)
    py = os.path.join(str(d), "bin", "python")
    # From a copy, so that the build leaves nothing in the tree; offline:
    # the build uses the system's setuptools, not a download.
    src = os.path.join(str(d), "src")
    shutil.copytree(os.path.join(TOP, "python"), src,
                    ignore=shutil.ignore_patterns("tests", "__pycache__", "build", "*.egg-info"))
    subprocess.run([py, "-m", "pip", "install", "--quiet", "--no-index", "--no-build-isolation",
                    src], check=True, cwd=str(d))
    return py


def test_the_installed_package_is_used(venv, tmp_path):
    out = subprocess.run([venv, "-c", "import nslock; print(nslock.__file__)"], cwd=str(tmp_path),
                         stdout=subprocess.PIPE, check=True, env=dict(os.environ))
    assert "site-packages" in out.stdout.decode()
    assert os.path.join(TOP, "python") not in out.stdout.decode()


def test_the_docs_example_runs(venv, server, tmp_path):
    script = tmp_path / "nightly.py"
    script.write_text(docs_example())
    env = dict(os.environ, NSLOCK_SOCKET=server.socket)
    first = subprocess.run([venv, str(script)], env=env, cwd=str(tmp_path),
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert first.returncode == 0, first.stdout.decode()
    assert b"running the nightly batch" in first.stdout
    # While another session holds it, the example refuses at once.
    with nslock.connect(server.socket, client_name="night-owl") as holder:
        holder.lock("^AppStateData", "NightlyBatch")
        second = subprocess.run([venv, str(script)], env=env, cwd=str(tmp_path),
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=20)
    assert second.returncode == 1, second.stdout.decode()
    assert b"You cannot run this routine right now." in second.stdout
    assert b"night-owl" in second.stdout
