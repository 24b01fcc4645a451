"""`openvid-hf demo`: every stage of a shortened demo, its re-run, its failures, and the commands it prints."""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pytest
from PIL import Image

from openvid_hf.commands import cli
from openvid_hf.demo.contact_sheet import SheetRow, frame_indices, render_contact_sheet, save_contact_sheet
from openvid_hf.demo.stages import (
    BASE_MODEL_REPO,
    DATASET_REPO,
    GENERATED_FRAMES,
    GENERATED_SIZE,
    MARKER_FILE,
    MODEL_REPO,
    NEXT_STEPS,
    SAMPLE_SEED,
    STAGES,
    DemoPaths,
    DemoSettings,
    prepare_workdir,
    training_arguments,
)
from openvid_hf.testing.sample_release import write_sample_release
from openvid_hf.video.decoding import probe_video

NUM_VIDEOS = 8
TRAIN_STEPS = 2
VAE_STEPS = 3
#: How many times closer to the training frames the full demo's trained pipeline gets than the untrained one
#: (docs/demo.md, "The learning measure").
DOCUMENTED_MARGIN = 1.3
REPO_ROOT = Path(__file__).resolve().parents[1]


def run_demo_cli(workdir: Path, *options: str) -> tuple[int, str, str]:
    """`openvid-hf demo` in this process: (exit status, stdout, stderr)."""
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        try:
            status = cli.main(["demo", "--workdir", str(workdir), *options])
        except SystemExit as exit:
            status = exit.code
    return status, stdout.getvalue(), stderr.getvalue()


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    """One shortened demo, then a second run in the same workdir (which reuses the first one's outputs)."""
    workdir = tmp_path_factory.mktemp("demo") / "demo-output"
    options = ("--num-videos", str(NUM_VIDEOS), "--train-steps", str(TRAIN_STEPS), "--vae-steps", str(VAE_STEPS))
    first = run_demo_cli(workdir, *options)
    assert first[0] == 0, first[2][-3000:]
    first_summary = json.loads((workdir / "summary.json").read_text())
    release_files = {path: path.stat().st_mtime_ns for path in (workdir / "release").rglob("*")}
    second = run_demo_cli(workdir, *options)
    assert second[0] == 0, second[2][-3000:]
    return {
        "workdir": workdir,
        "first": first,
        "first_summary": first_summary,
        "release_files": release_files,
        "second": second,
        "summary": json.loads((workdir / "summary.json").read_text()),
    }


@pytest.fixture(scope="module")
def sample_truth(tmp_path_factory):
    """The sample release the demo writes, planned again: the ground truth of its defects and clips."""
    return write_sample_release(tmp_path_factory.mktemp("truth") / "release", num_videos=NUM_VIDEOS, seed=SAMPLE_SEED)


@pytest.fixture
def demo_hub(demo_run):
    """The demo's local Hub served again from its workdir (repositories persist), clients pointed at it."""
    from openvid_hf.testing.hub import HubServer
    from openvid_hf.testing.hub_clients import point_clients_at

    workdir = demo_run["workdir"]
    with (
        HubServer(workdir / "hub") as server,
        point_clients_at(server.endpoint, token="read", home=workdir.parent / "hf-home-check"),
    ):
        yield server


def load_metadata_keys(split: str) -> list[str]:
    """Keys of the published dataset's split, from its metadata table on the demo's Hub."""
    return load_metadata_column(split, "key")


def load_metadata_column(split: str, column: str) -> list:
    from openvid_hf.publish.metadata import load_metadata

    return load_metadata(DATASET_REPO, split=split)[column]


def summary_lines(stdout: str) -> list[str]:
    return [line.strip() for line in stdout.splitlines() if line.strip().startswith("✔")]


# The run ----------------------------------------------------------------------------------------------------------


def test_every_stage_prints_one_summary_line_and_leaves_its_outputs(demo_run):
    _status, stdout, stderr = demo_run["first"]
    workdir = demo_run["workdir"]
    assert len(summary_lines(stdout)) == len(STAGES) == 7
    for number in range(1, 8):
        assert f"[{number}/7] " in stdout
    assert "Traceback" not in stdout + stderr
    summary = demo_run["first_summary"]
    assert summary["status"] == "ok"
    assert list(summary["stages"]) == [name for name, _, _ in STAGES]
    assert all(stage["seconds"] >= 0 for stage in summary["stages"].values())
    for name in ("summary.json", "generated.mp4", "dataset_contact_sheet.png", "generated_contact_sheet.png"):
        assert (workdir / name).is_file(), name
    assert not list(workdir.rglob("*.partial*")), "no half-written file is left behind"


def test_stage_1_reports_every_planted_defect_with_its_reason(demo_run, sample_truth):
    stdout = demo_run["first"][1]
    planted = {(clip.defect, clip.video) for clip in sample_truth.clips if clip.defect}
    assert len(planted) == 5
    reported = {(skip["reason"], skip["video"]) for skip in demo_run["first_summary"]["stages"]["release"]["skipped"]}
    assert reported == planted
    for reason, video in planted:
        assert re.search(rf"^\s+{reason}\s+{re.escape(video)}\s+\(.+\)$", stdout, re.MULTILINE), (reason, video)


def test_stage_2_published_and_verified_the_build_on_the_hub(demo_run, demo_hub):
    from openvid_hf.publish.verify import verify_dataset

    report = verify_dataset(DATASET_REPO)
    assert report.ok, report.problems
    local = verify_dataset(demo_run["workdir"] / "openvid-1m")
    assert (report.files, report.bytes) == (local.files, local.bytes)


def test_stage_3_sheet_has_a_row_per_hd_clip(demo_run, sample_truth):
    hd_clips = [clip for clip in sample_truth.decodable_clips if clip.hd and clip.num_frames >= 16]
    stage = demo_run["first_summary"]["stages"]["contact_sheet"]
    assert stage["clips"] == len(hd_clips) >= 1
    assert 'load_dataset("demo/openvid-1m-sample", "hd", split="train", streaming=True)' in stage["code"]
    sheet = Image.open(demo_run["workdir"] / "dataset_contact_sheet.png")
    assert sheet.format == "PNG" and sheet.mode == "RGB"
    assert (demo_run["workdir"] / "dataset_contact_sheet.png").stat().st_size < 300_000


def test_stage_4_fitted_the_vae_and_pushed_the_untrained_pipeline(demo_run, demo_hub, sample_truth):
    from openvid_hf.pipelines import MVDiTPipeline

    stage = demo_run["first_summary"]["stages"]["base_model"]
    train_keys = set(load_metadata_keys("train"))
    assert stage["training_clips"] == len(train_keys) >= 1
    assert stage["vae"]["steps"] == VAE_STEPS
    base = MVDiTPipeline.from_pretrained(BASE_MODEL_REPO)
    assert base.vae.config.scaling_factor == pytest.approx(stage["vae"]["scaling_factor"], rel=1e-4)
    # The tokenizer reads the captions' digits, so no two training captions are the same prompt.
    captions = [clip.caption for clip in sample_truth.clips if clip.defect is None]
    assert len({tuple(base.tokenizer(caption).input_ids) for caption in captions}) == len(captions)
    # Untrained: the original's initialisation zeroes the final projection.
    assert not base.transformer.proj_out.weight.any()


def test_stage_5_trained_the_pipeline_from_the_hub_and_pushed_it(demo_run, demo_hub):
    import torch

    from openvid_hf.pipelines import MVDiTPipeline

    stage = demo_run["first_summary"]["stages"]["fine_tune"]
    assert len(stage["losses"]) == stage["training_summary"]["steps"] == TRAIN_STEPS
    assert "--flip_probability 0 " in stage["command"]
    base = MVDiTPipeline.from_pretrained(BASE_MODEL_REPO).transformer.state_dict()
    tuned = MVDiTPipeline.from_pretrained(MODEL_REPO).transformer.state_dict()
    assert base.keys() == tuned.keys()
    changed = [name for name in base if not torch.equal(base[name], tuned[name])]
    assert len(changed) > len(base) // 2, "training changed the transformer's weights"


def test_stage_6_generated_a_training_caption_and_measured_it(demo_run, demo_hub):
    workdir = demo_run["workdir"]
    probe = probe_video(workdir / "generated.mp4")
    assert (probe.num_frames, probe.width, probe.height) == (GENERATED_FRAMES, GENERATED_SIZE, GENERATED_SIZE)
    sheet = Image.open(workdir / "generated_contact_sheet.png")
    assert sheet.format == "PNG" and sheet.height > 3 * 2 * GENERATED_SIZE
    stage = demo_run["first_summary"]["stages"]["generate"]
    captions = dict(zip(load_metadata_keys("train"), load_metadata_column("train", "caption"), strict=True))
    assert captions[stage["prompt_clip_key"]] == stage["prompt"]
    nearest = stage["learning"]["nearest_training_frame"]
    for model in ("trained", "untrained", "noise"):
        assert len(nearest[model]["distances"]) == GENERATED_FRAMES
    assert nearest["noise"]["mean_distance"] > 60, "uniform noise is far from every frame"
    assert nearest["margin_vs_untrained"] == pytest.approx(
        nearest["untrained"]["mean_distance"] / nearest["trained"]["mean_distance"], rel=0.01
    )
    # The sample's bars move right; a wide clip's crop or a tint near mid-grey can hide the bar ("none").
    assert stage["learning"]["bar_motion"]["training_clip"]["direction"] in ("right", "none")
    assert "nearest training frame" in stage["line"]


def test_the_hub_server_is_stopped_after_the_run(demo_run):
    endpoint = urlsplit(demo_run["summary"]["local_hub"]["endpoint"])
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((endpoint.hostname, endpoint.port), timeout=2).close()


def test_a_rerun_reuses_the_release_the_build_and_the_hub(demo_run):
    stdout = demo_run["second"][1]
    summary = demo_run["summary"]
    assert summary["status"] == "ok" and summary["reused_earlier_run"] is True
    assert "reused a sample release" in stdout and "the build is up to date" in stdout
    release = demo_run["workdir"] / "release"
    assert {path: path.stat().st_mtime_ns for path in release.rglob("*")} == demo_run["release_files"]
    # The same files pushed again make no new commit.
    assert summary["stages"]["dataset"]["commit"] == demo_run["first_summary"]["stages"]["dataset"]["commit"]


# What it prints ---------------------------------------------------------------------------------------------------


def strict_parser() -> argparse.ArgumentParser:
    """The real `openvid-hf` parser, refusing abbreviated options (so a printed option must exist as typed)."""
    parser = cli.build_parser()
    parser.allow_abbrev = False
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for subparser in action.choices.values():
                subparser.allow_abbrev = False
    return parser


def parse_command(argv: list[str]) -> argparse.Namespace | None:
    """Parse an `openvid-hf ...` or `accelerate launch -m openvid_hf.train ...` command line with our parser.

    None for a command that only prints (`--help`, `--version`).
    """
    if argv[:4] == ["accelerate", "launch", "-m", "openvid_hf.train"]:
        argv = ["openvid-hf", "train", *argv[4:]]
    assert Path(argv[0]).name == "openvid-hf", argv
    output = io.StringIO()
    with contextlib.redirect_stderr(output), contextlib.redirect_stdout(output):
        try:
            return strict_parser().parse_args(argv[1:])
        except SystemExit as exit:
            if exit.code != 0:
                pytest.fail(f"`{shlex.join(argv)}` does not parse: {output.getvalue().strip()}")
    return None


def test_every_printed_command_exists_with_those_arguments(demo_run):
    stdout = demo_run["first"][1]
    commands = [command for step in NEXT_STEPS for command in step.commands]
    ours = [shlex.split(command) for command in commands if not command.startswith(("hf ", "python "))]
    assert len(ours) >= 7
    for command in commands:
        assert f"        {command}\n" in stdout, command
    parsed = [parse_command(argv) for argv in ours]
    assert {args.command for args in parsed} >= {"inspect", "build", "push", "verify", "convert", "train", "generate"}
    train = next(args for args in parsed if args.command == "train")
    assert (train.pretrained_model_name_or_path, train.push_to_hub) == ("ORG/MVDiT-16x512x512", True)
    convert = next(args for args in parsed if args.command == "convert")
    assert (convert.text_encoder, convert.vae) == ("DeepFloyd/t5-v1_1-xxl", "stabilityai/sd-vae-ft-ema")
    assert "nkp37/OpenVid-1M" in " ".join(commands)


def test_the_training_command_the_demo_ran_parses(tmp_path):
    arguments = training_arguments(DemoPaths(tmp_path), DemoSettings(train_steps=3), num_clips=3)
    args = parse_command(["openvid-hf", "train", *arguments])
    assert (args.max_train_steps, args.dataset_name, args.hub_model_id) == (3, DATASET_REPO, MODEL_REPO)
    assert (args.train_batch_size, args.flip_probability) == (3, 0.0)


def readme_commands() -> list[str]:
    """Every `openvid-hf` command line in the README's shell code blocks (continuation lines joined)."""
    text = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    commands = []
    for block in re.findall(r"```(?:bash|sh|shell|console)\n(.*?)```", text, re.DOTALL):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            if words and Path(words[0]).name == "openvid-hf":
                commands.append(line)
    return commands


def test_the_readme_commands_parse():
    commands = readme_commands()
    assert len(commands) >= 5
    for command in commands:
        parse_command(shlex.split(command, comments=True))


# Failures ---------------------------------------------------------------------------------------------------------


def test_refuses_a_folder_the_demo_did_not_write(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    status, _stdout, stderr = run_demo_cli(tmp_path)
    assert status == 1
    assert stderr.strip().splitlines() == [
        f"openvid-hf demo: error: --workdir {tmp_path} is not empty and was not written by `openvid-hf demo`; "
        "choose another folder"
    ]
    assert [path.name for path in tmp_path.iterdir()] == ["notes.txt"]


def test_a_workdir_is_reused_only_with_the_same_settings(tmp_path):
    paths, settings = DemoPaths(tmp_path / "demo-output"), DemoSettings(num_videos=NUM_VIDEOS)
    assert prepare_workdir(paths, settings, clean=False) is False
    kept = paths.workdir / "release" / "kept.txt"
    kept.parent.mkdir()
    kept.write_text("from an earlier run")
    assert prepare_workdir(paths, settings, clean=False) is True and kept.is_file()
    assert prepare_workdir(paths, DemoSettings(num_videos=NUM_VIDEOS + 1), clean=False) is False
    assert not kept.exists() and (paths.workdir / MARKER_FILE).is_file()
    kept.parent.mkdir()
    kept.write_text("again")
    assert prepare_workdir(paths, DemoSettings(num_videos=NUM_VIDEOS + 1), clean=True) is False
    assert not kept.exists()


def test_too_few_videos_is_a_usage_error(tmp_path):
    status, _, stderr = run_demo_cli(tmp_path / "out", "--num-videos", "5")
    assert status == 2
    assert "--num-videos must be at least 8" in stderr
    assert not (tmp_path / "out").exists()


def test_a_failing_stage_is_one_line_and_stops_the_server(tmp_path):
    """A demo workdir whose `release` is a file: stage 1 fails with one line; the summary says where."""
    workdir = tmp_path / "demo-output"
    workdir.mkdir()
    (workdir / MARKER_FILE).write_text(
        json.dumps({"openvid_hf": "0.1.0", "num_videos": NUM_VIDEOS, "sample_seed": SAMPLE_SEED})
    )
    (workdir / "release").write_text("not a folder")
    status, _, stderr = run_demo_cli(workdir, "--num-videos", str(NUM_VIDEOS))
    assert status == 1
    lines = [line for line in stderr.splitlines() if "error" in line]
    assert len(lines) == 1 and lines[0].startswith("openvid-hf demo: error: demo stage 1 ")
    assert str(workdir / "logs" / "error.log") in lines[0]
    assert "Traceback" not in stderr and "Traceback" in (workdir / "logs" / "error.log").read_text()
    summary = json.loads((workdir / "summary.json").read_text())
    assert summary["status"] == "failed at stage 1 (release)"
    endpoint = urlsplit(summary["local_hub"]["endpoint"])
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((endpoint.hostname, endpoint.port), timeout=2).close()


def _processes_mentioning(text: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                command_line = (entry / "cmdline").read_bytes().decode(errors="replace")
                if text in command_line and int(entry.name) != os.getpid():
                    found.append(int(entry.name))
    return found


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="finds the training process through /proc")
def test_ctrl_c_during_training_stops_the_trainer_and_says_so(tmp_path):
    workdir = tmp_path / "interrupted"
    command = [sys.executable, "-m", "openvid_hf", "demo", "--workdir", str(workdir), "--num-videos", "8"]
    command += ["--vae-steps", "3"]
    process = subprocess.Popen(
        [*command, "--train-steps", "100000"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        step_log = workdir / "mvdit-demo" / "training_log.jsonl"
        deadline = time.monotonic() + 240
        while not (step_log.is_file() and step_log.read_text().strip()):
            assert process.poll() is None, process.communicate()[1][-3000:]
            assert time.monotonic() < deadline, "training did not start"
            time.sleep(0.2)
        assert _processes_mentioning(str(workdir / "mvdit-demo"))
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 130
    assert stderr.rstrip().splitlines()[-1] == "openvid-hf demo: interrupted"
    assert "Traceback" not in stderr
    assert json.loads((workdir / "summary.json").read_text())["status"] == "interrupted at stage 5 (fine_tune)"
    assert not _processes_mentioning(str(workdir / "mvdit-demo"))


# The contact sheet -----------------------------------------------------------------------------------------------


def test_frame_indices_spread_from_first_to_last():
    assert frame_indices(44, 4) == [0, 14, 29, 43]
    assert frame_indices(3, 8) == [0, 1, 2]
    assert frame_indices(1, 4) == [0]
    assert frame_indices(0, 4) == []


def test_contact_sheet_shows_the_frames_and_wraps_the_caption(tmp_path):
    small = np.zeros((2, 2, 3), np.uint8)
    small[0, 0] = (255, 0, 0)
    small[1, 1] = (0, 0, 255)
    wide = np.full((90, 160, 3), 200, np.uint8)
    caption = " ".join(["words"] * 200)
    rows = [SheetRow([small, small], "a short caption", "details"), SheetRow([wide], caption)]
    path = save_contact_sheet(rows, tmp_path / "sheet.png", title="title", frame_height=40, max_caption_lines=3)
    sheet = np.asarray(Image.open(path))
    assert [entry.name for entry in tmp_path.iterdir()] == ["sheet.png"]
    # The 2x2 frame enlarged 20x by nearest neighbour: each pixel becomes a 20x20 block, found in the sheet.
    enlarged = np.kron(small, np.ones((20, 20, 1), np.uint8))
    rows_at = [y for y in range(sheet.shape[0] - 40) if np.array_equal(sheet[y : y + 40, 12 : 12 + 40], enlarged)]
    assert len(rows_at) == 1
    # A long caption is cut to its line budget: the sheet is not taller than for a 3-line caption.
    three_lines = render_contact_sheet(
        [rows[0], SheetRow([wide], "one\ntwo\nthree")], title="title", frame_height=40, max_caption_lines=3
    )
    assert sheet.shape[0] == three_lines.height


def test_contact_sheet_refuses_an_empty_row():
    with pytest.raises(ValueError, match="at least one frame"):
        render_contact_sheet([SheetRow([], "caption")])


def test_the_readme_shows_the_demo_contact_sheets():
    images = re.findall(r"!\[[^\]]*\]\((docs/images/demo_[^)]+\.png)\)", (REPO_ROOT / "README.md").read_text())
    assert len(images) == 2
    for image in images:
        assert Image.open(REPO_ROOT / image).format == "PNG"
        assert (REPO_ROOT / image).stat().st_size < 300_000


# The full demo -----------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_the_full_demo_learns_the_sample(tmp_path):
    """`make demo`'s settings: the trained pipeline beats the untrained one by the margin docs/demo.md states."""
    status, _stdout, stderr = run_demo_cli(tmp_path / "demo-output")
    assert status == 0, stderr[-3000:]
    learning = json.loads((tmp_path / "demo-output" / "summary.json").read_text())["stages"]["generate"]["learning"]
    nearest = learning["nearest_training_frame"]
    assert nearest["margin_vs_untrained"] >= DOCUMENTED_MARGIN, nearest
    distances = [nearest[model]["mean_distance"] for model in ("trained", "untrained", "noise")]
    assert distances == sorted(distances), nearest
