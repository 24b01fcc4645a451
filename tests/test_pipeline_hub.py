"""MVDiTPipeline through the local Hub server: push, then load in fresh processes, with and without openvid_hf.

The subprocesses run the usage snippet of the pushed model card itself, so the card's code is what is tested.
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from huggingface_hub import ModelCard, snapshot_download

from openvid_hf import MVDiTTransformer3DModel
from openvid_hf.model.model_card import EXAMPLE_PROMPT, model_card, sampling_defaults
from openvid_hf.pipelines.registration import is_registered, register_with_diffusers
from openvid_hf.testing.tiny_pipeline import tiny_pipeline
from openvid_hf.video.decoding import probe_video

SUBPROCESS_TIMEOUT = 300
# Runs first in the remote-code subprocess: any import of openvid_hf fails there, as where it is not installed.
BLOCK_OPENVID_HF = """
import importlib.abc, sys

class NotInstalled(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] == "openvid_hf":
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)

sys.meta_path.insert(0, NotInstalled())
try:
    import openvid_hf
except ImportError:
    pass
else:
    raise SystemExit("openvid_hf is importable")
"""


@pytest.fixture(scope="module")
def pipe():
    return tiny_pipeline(seed=1)


@pytest.fixture(scope="module")
def card_video(pipe) -> np.ndarray:
    """What the card's snippet generates, computed here with the pipeline that is pushed."""
    defaults = sampling_defaults(pipe)
    arguments = {key: defaults[key] for key in ("height", "width", "num_frames", "num_inference_steps")}
    return pipe(
        EXAMPLE_PROMPT,
        **arguments,
        guidance_scale=defaults["guidance_scale"],
        generator=torch.Generator().manual_seed(defaults["seed"]),
    ).frames[0]


def usage_snippet(card: ModelCard) -> str:
    """The card's Python block that loads the pipeline and exports a video."""
    blocks = re.findall(r"```python\n(.*?)```", card.text, flags=re.DOTALL)
    return next(block for block in blocks if "from_pretrained(" in block and "export_to_video(" in block)


def run_python(script: str, cwd) -> None:
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=cwd, capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT
    )
    assert result.returncode == 0, result.stderr[-4000:]


def test_openvid_hf_is_registered_with_diffusers(pipe):
    """What a diffusers upgrade could break: the loading table entry and the class AutoModel looks up."""
    import diffusers
    from diffusers.pipelines import pipeline_loading_utils

    assert register_with_diffusers()

    assert pipeline_loading_utils.LOADABLE_CLASSES["openvid_hf"] == {
        "MVDiTTransformer3DModel": ["save_pretrained", "from_pretrained"]
    }
    assert pipeline_loading_utils.ALL_IMPORTABLE_CLASSES["MVDiTTransformer3DModel"] == [
        "save_pretrained",
        "from_pretrained",
    ]
    assert diffusers.MVDiTTransformer3DModel is MVDiTTransformer3DModel
    assert pipe.config.transformer == ("openvid_hf", "MVDiTTransformer3DModel")


def test_a_diffusers_without_the_loading_table_gets_a_warning_not_an_error(monkeypatch):
    """The guard: if a diffusers release drops `LOADABLE_CLASSES`, importing still works and the user is told."""
    from diffusers.pipelines import pipeline_loading_utils

    monkeypatch.delattr(pipeline_loading_utils, "LOADABLE_CLASSES")
    with pytest.warns(RuntimeWarning, match="could not register its components with diffusers"):
        assert not register_with_diffusers()
    assert not is_registered()


def test_importing_openvid_hf_registers_nothing_until_asked(tmp_path):
    run_python(
        "import diffusers.pipelines.pipeline_utils, diffusers\n"
        "import openvid_hf\n"
        "from openvid_hf.pipelines.registration import is_registered\n"
        "assert not is_registered() and not hasattr(diffusers, 'MVDiTTransformer3DModel')\n"
        "openvid_hf.register_with_diffusers()\n"
        "assert is_registered()\n"
        "assert diffusers.MVDiTTransformer3DModel.__module__ == 'openvid_hf.pipelines.transformer_mvdit'\n",
        tmp_path,
    )


def test_push_then_from_pretrained_in_a_fresh_process(pipe, card_video, hub_repo_id, tmp_path):
    pipe.push_to_hub(hub_repo_id, model_card={"base_model": "nkp37/OpenVid-1M"})

    card = ModelCard.load(hub_repo_id)
    assert card.data.library_name == "diffusers" and card.data.pipeline_tag == "text-to-video"
    assert card.data.base_model == "nkp37/OpenVid-1M" and card.data.datasets == ["nkp37/OpenVid-1M"]
    assert card.data.license and "text-to-video" in card.data.tags
    assert "@article{nan2024openvid" in card.text and "num_inference_steps=100" in card.text
    snippet = usage_snippet(card)
    assert f'MVDiTPipeline.from_pretrained("{hub_repo_id}")' in snippet

    script = textwrap.dedent(
        f"""
        import numpy as np
        import openvid_hf  # only this: AutoModel finds the class on the package model_index.json names
        from diffusers import AutoModel

        transformer = AutoModel.from_pretrained({hub_repo_id!r}, subfolder="transformer")
        assert type(transformer).__module__ == "openvid_hf.pipelines.transformer_mvdit", type(transformer)
        """
    )
    script += usage_snippet(card) + "\nnp.save('frames.npy', video)\n"
    run_python(script, tmp_path)

    np.testing.assert_allclose(np.load(tmp_path / "frames.npy"), card_video, atol=1e-6, rtol=0)
    probe = probe_video(tmp_path / "video.mp4")
    defaults = sampling_defaults(pipe)
    assert (probe.num_frames, probe.width, probe.height) == (
        defaults["num_frames"],
        defaults["width"],
        defaults["height"],
    )


def test_remote_code_loads_where_openvid_hf_is_not_installed(pipe, card_video, hub_repo_id, hub_api, tmp_path):
    pipe.push_to_hub(hub_repo_id, remote_code=True)
    files = set(hub_api.list_repo_files(hub_repo_id))
    assert {
        "pipeline_mvdit.py",
        "caption_cleaning.py",
        "transformer_mvdit.py",
        "transformer/transformer_mvdit.py",
    } <= files

    card = ModelCard.load(hub_repo_id)
    snippet = usage_snippet(card)
    assert f'DiffusionPipeline.from_pretrained("{hub_repo_id}", trust_remote_code=True)' in snippet
    script = BLOCK_OPENVID_HF + snippet
    script += textwrap.dedent(
        """
        import numpy as np
        assert type(pipe).__module__.startswith("diffusers_modules."), type(pipe)
        assert type(pipe.transformer).__module__.startswith("diffusers_modules."), type(pipe.transformer)
        assert not [name for name in sys.modules if name.split(".")[0] == "openvid_hf"]
        np.save("frames.npy", video)
        """
    )
    run_python(script, tmp_path)

    np.testing.assert_allclose(np.load(tmp_path / "frames.npy"), card_video, atol=1e-6, rtol=0)
    assert probe_video(tmp_path / "video.mp4").num_frames == sampling_defaults(pipe)["num_frames"]


def test_save_pretrained_with_push_uploads_what_push_to_hub_does(pipe, hub_repo_id, hub_api, tmp_path):
    """Both of diffusers' ways to push write openvid-hf's card for the repository and the same files, byte for byte."""
    saved = f"{hub_repo_id}-saved"
    pipe.push_to_hub(hub_repo_id, remote_code=True, model_card={"base_model": "nkp37/OpenVid-1M"})
    pipe.save_pretrained(
        tmp_path / "folder", push_to_hub=True, repo_id=saved, remote_code=True, model_card={"repo_id": hub_repo_id}
    )

    files = sorted(hub_api.list_repo_files(hub_repo_id))
    assert files == sorted(hub_api.list_repo_files(saved))
    assert "publishing.py" in files and not [name for name in files if "convert_mvdit" in name]
    pushed = Path(snapshot_download(hub_repo_id, local_dir=tmp_path / "pushed"))
    saved_then_pushed = Path(snapshot_download(saved, local_dir=tmp_path / "saved"))
    for name in files:
        if name != "README.md":
            assert (saved_then_pushed / name).read_bytes() == (pushed / name).read_bytes(), name
    card = (pushed / "README.md").read_text()
    assert f'DiffusionPipeline.from_pretrained("{hub_repo_id}", trust_remote_code=True)' in card
    assert "base_model: nkp37/OpenVid-1M" in card
    assert (saved_then_pushed / "README.md").read_text() == card.replace("base_model: nkp37/OpenVid-1M\n", "")


def test_save_pretrained_writes_the_card_and_refuses_what_it_would_drop(pipe, tmp_path):
    pipe.save_pretrained(tmp_path / "plain")
    card = ModelCard.load(tmp_path / "plain" / "README.md")
    assert card.text == model_card(pipe, str(tmp_path / "plain")).text
    assert f'MVDiTPipeline.from_pretrained("{tmp_path / "plain"}")' in usage_snippet(card)

    pipe.save_pretrained(tmp_path / "given", model_card="# My MVDiT\n")
    assert (tmp_path / "given" / "README.md").read_text() == "# My MVDiT\n"

    with pytest.raises(TypeError, match=r"unexpected keyword arguments \['repo_id'\]"):
        pipe.save_pretrained(tmp_path / "not_pushed", repo_id="org/name")
    with pytest.raises(TypeError, match="unexpected keyword argument"):
        pipe.push_to_hub("org/name", max_shard_size="1GB")
    assert not (tmp_path / "not_pushed").exists()


def test_without_openvid_hf_save_and_push_are_diffusers_own(pipe, hub_repo_id, tmp_path):
    """Loaded as remote code where openvid-hf is not installed: no card from fields, diffusers' generic card."""
    pipe.push_to_hub(hub_repo_id, remote_code=True)
    script = BLOCK_OPENVID_HF + textwrap.dedent(
        f"""
        import os
        import pytest
        from diffusers import DiffusionPipeline
        from huggingface_hub import ModelCard

        pipe = DiffusionPipeline.from_pretrained({hub_repo_id!r}, trust_remote_code=True)
        pipe.save_pretrained("saved")
        assert not os.path.exists("saved/README.md")
        with pytest.raises(ValueError, match="openvid-hf's card, which is not installed here"):
            pipe.save_pretrained("fields", model_card={{"base_model": "nkp37/OpenVid-1M"}})
        pipe.push_to_hub({hub_repo_id + "-copy"!r})
        card = ModelCard.load({hub_repo_id + "-copy"!r})
        assert card.data.library_name == "diffusers" and "nan2024openvid" not in card.text, card.text
        assert not [name for name in sys.modules if name.split(".")[0] == "openvid_hf"]
        """
    )
    run_python(script, tmp_path)
