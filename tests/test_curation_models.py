"""The curation's model stages with tiny random-weight models of the real classes, served by the local Hub: CLIP
temporal consistency, the CLIP aesthetic predictor, batched captions, and `curate` with every stage."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from openvid_hf.commands.cli import main
from openvid_hf.curation.aesthetics import AestheticScorer
from openvid_hf.curation.captions import Captioner
from openvid_hf.curation.consistency import TemporalConsistency
from openvid_hf.curation.frames import read_clip_frames
from openvid_hf.release.layout import MAIN_CSV
from openvid_hf.testing.synthetic_videos import camera_frames, write_video
from openvid_hf.testing.tiny_curation_models import TINY_EMBED_DIM, TINY_HEAD_BIAS, TINY_HEAD_FILES, TINY_HEAD_WEIGHT


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    folder = tmp_path_factory.mktemp("model-clips")

    def noise():
        rng = np.random.default_rng(0)
        for _ in range(16):
            yield rng.integers(0, 255, (120, 160, 3), dtype=np.uint8)

    return {
        "static": write_video(folder / "static.mp4", camera_frames("static", 16, seed=1)),
        "noise": write_video(folder / "noise.mp4", noise()),
        "pan": write_video(folder / "pan.mp4", camera_frames("pan_right", 12, speed=3.0, seed=2)),
    }


def reference_embeds(repo: str, frames: np.ndarray):
    """Unit CLIP embeddings computed with transformers directly, not through the curation code."""
    import torch
    from transformers import AutoImageProcessor, CLIPVisionModelWithProjection

    processor = AutoImageProcessor.from_pretrained(repo)
    model = CLIPVisionModelWithProjection.from_pretrained(repo).eval()
    with torch.inference_mode():
        embeds = model(**processor(images=list(frames), return_tensors="pt")).image_embeds
    return torch.nn.functional.normalize(embeds, dim=-1)


def test_temporal_consistency_is_the_mean_similarity_of_adjacent_frames(curation_models, clips):
    rows = TemporalConsistency(curation_models["clip"])([clips["static"], clips["noise"], clips["pan"]])
    scores = {row["clip"]: row["temporal_consistency_score"] for row in rows}
    embeds = reference_embeds(curation_models["clip"], read_clip_frames(clips["noise"], count=8))
    expected = (embeds[:-1] * embeds[1:]).sum(-1).mean().item()
    assert scores["noise.mp4"] == pytest.approx(expected, abs=1e-5)
    assert scores["static.mp4"] > 0.9999 > scores["noise.mp4"]


@pytest.mark.parametrize("head_file", TINY_HEAD_FILES)
def test_aesthetic_score_is_the_head_on_unit_clip_embeddings(curation_models, clips, head_file):
    scorer = AestheticScorer(curation_models["clip"], f"{curation_models['clip']}/{head_file}")
    [row] = scorer([clips["pan"]])
    embeds = reference_embeds(curation_models["clip"], read_clip_frames(clips["pan"], count=3))
    assert embeds.shape == (3, TINY_EMBED_DIM)
    expected = (embeds.numpy() @ np.array(TINY_HEAD_WEIGHT) + TINY_HEAD_BIAS).mean()
    assert row["aesthetic_score"] == pytest.approx(expected, abs=1e-5)


def test_captions_are_batched_and_deterministic(curation_models, clips):
    captioner = Captioner(curation_models["captioner"], prompt="Describe this video.", max_new_tokens=6, frames=4)
    paths = [clips["static"], clips["pan"]]
    batched = captioner(paths)
    assert [row["clip"] for row in batched] == ["static.mp4", "pan.mp4"]
    assert all(row["caption"] and len(row["caption"].split()) <= 6 for row in batched)
    assert [captioner([path])[0] for path in paths] == batched


def test_curate_with_every_stage_fills_every_field(curation_models, every_stage_args, clips, tmp_path, capsys):
    out = tmp_path / "release"
    args = ["curate", str(clips["pan"].parent), str(out), *every_stage_args]
    assert main(args) == 0
    with open(out / MAIN_CSV, newline="", encoding="utf-8") as handle:
        rows = {row["video"]: row for row in csv.DictReader(handle)}
    assert "pan_0_0to12.mp4" in rows
    for row in rows.values():
        assert row["caption"] and float(row["aesthetic score"]) and 0 < float(row["temporal consistency score"]) <= 1
    report = json.loads((out / ".curation" / "report.json").read_text())
    assert report["models"]["caption_model"] == curation_models["captioner"] and report["steps"][-1] == "captions"
    capsys.readouterr()
    assert main(["inspect", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["skipped"] == []
