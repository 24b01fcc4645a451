"""The distribution: folders mapped into the package, templates shipped, importable from a built wheel."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_mapped_packages_import_in_the_editable_install():
    import openvid_hf.dataset_script
    import openvid_hf.model_cards
    import openvid_hf.pipelines

    assert Path(openvid_hf.dataset_script.__file__).parent == REPO / "dataset_script"
    assert Path(openvid_hf.pipelines.__file__).parent == REPO / "pipelines"
    assert Path(openvid_hf.model_cards.__file__).parent == REPO / "model_cards"


def test_wheel_installs_and_imports_outside_the_checkout(tmp_path):
    wheel_dir, target = tmp_path / "wheel", tmp_path / "site"
    pip = [sys.executable, "-m", "pip", "-q"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(wheel_dir), str(REPO)], check=True)
    (wheel,) = wheel_dir.glob("openvid_hf-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "openvid_hf/dataset_script/__init__.py" in names
    assert "openvid_hf/pipelines/__init__.py" in names
    templates = [name for name in names if name.startswith("openvid_hf/model_cards/") and name.endswith(".jinja")]
    assert templates == sorted(
        f"openvid_hf/model_cards/{path.name}" for path in (REPO / "model_cards").glob("*.jinja")
    )
    subprocess.run([*pip, "install", "--no-deps", "--target", str(target), str(wheel)], check=True)
    probe = (
        "import sys; sys.path.insert(0, sys.argv[1]);"
        "import openvid_hf, openvid_hf.dataset_script, openvid_hf.pipelines;"
        "print(openvid_hf.dataset_script.__file__); print(openvid_hf.pipelines.__file__)"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe, str(target)], capture_output=True, text=True, check=True, cwd=tmp_path
    )
    for line in result.stdout.splitlines():
        assert line.startswith(str(target)), line
