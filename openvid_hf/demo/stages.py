"""`openvid-hf demo`: the whole story, end to end, offline on CPU, on an embedded sample. Decisions: docs/demo.md.

One function per stage; each prints one summary line and records what it did for `summary.json`:

1. `write_release`: a synthetic release in the original layout (`testing.sample_release`, defects planted) and what the
   loading script skips, and why (`openvid_hf.release.inspect_release`).
2. `publish_dataset`: the published layout (`build_dataset`), pushed to the local Hub and verified (`push_dataset`).
3. `dataset_contact_sheet`: plain `datasets.load_dataset(DATASET_REPO, "hd", streaming=True)`, a PNG of its frames.
4. `base_model`: every frame of the training clips streamed back with `datasets`, a tiny VAE fitted to them, and the
   untrained tiny pipeline (`model_world`) pushed to `BASE_MODEL_REPO`.
5. `fine_tune`: `openvid-hf train` in a subprocess (as a user runs it) fine-tunes it from the Hub on the Hub dataset
   and pushes the result to `MODEL_REPO`.
6. `generate_video`: `MVDiTPipeline.from_pretrained(MODEL_REPO)` on a training clip's caption, an mp4, the learning
   measure against the untrained pipeline and noise (`learning`), and a PNG of the frames.
7. `next_steps`: where everything is, and the commands for the real release, the real Hub and the real weights.

Stages 2-6 talk to a local Hub (`openvid_hf.testing.hub.HubServer`, repositories stored in WORKDIR/hub) through the
unmodified clients (`point_clients_at`); every cache lives in WORKDIR/hf-home, so nothing outside WORKDIR is touched.

Its size is earned: the stages, the run around them (handler, workdir rules, summary) and the training subprocess are
one story told in order; the model world, the learning measure and the contact sheets are modules beside it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import traceback
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import __version__
from ..atomic import write_text, write_video
from ..errors import OpenVidError, UsageError, first_line
from .model_world import FRAME_INTERVAL, NUM_FRAMES, RESOLUTION

if TYPE_CHECKING:
    import numpy as np

    from ..pipelines import MVDiTPipeline
    from ..testing.hub import HubServer
    from .model_world import TrainingFrames

DATASET_REPO = "demo/openvid-1m-sample"
BASE_MODEL_REPO = "demo/mvdit-tiny-untrained"
MODEL_REPO = "demo/mvdit-demo"
#: The token the clients send to the local Hub (it accepts any); never a real one.
DEMO_TOKEN = "hf_openvid_demo_local_only"
#: Written first into a demo's workdir: what may be reused, and proof that the folder is the demo's to delete.
MARKER_FILE = ".openvid-hf-demo.json"
SAMPLE_SEED = 0
#: Frames of a training clip of the released models: shorter clips are reported (`too_short`) and not published.
MIN_FRAMES = 16
DEFAULT_NUM_VIDEOS = 24
DEFAULT_TRAIN_STEPS = 1000
DEFAULT_VAE_STEPS = 300
#: The smallest sample with every planted defect and a training batch of clean clips.
MIN_NUM_VIDEOS = 8
FRAMES_PER_DATASET_CLIP = 4
PROMPT = "a red car driving through a forest at sunset"
#: The generated video has the training clips' size and length (`model_world`).
GENERATED_SIZE = RESOLUTION
GENERATED_FRAMES = NUM_FRAMES
GENERATION_STEPS = 50
GUIDANCE_SCALE = 4.0
GENERATION_SEED = 42
#: Clips a training step; fewer when the training split has fewer (a sample of `MIN_NUM_VIDEOS`).
TRAIN_BATCH_SIZE = 4
#: What the fine-tuning runs with (docs/demo.md): the model world's clips, unflipped so the bars keep their direction,
#: and a learning rate that a from-scratch model of this size learns with in a few hundred steps.
TRAINING_OPTIONS = {
    "--resolution": str(RESOLUTION),
    "--num_frames": str(NUM_FRAMES),
    "--frame_interval": str(FRAME_INTERVAL),
    "--flip_probability": "0",
    "--learning_rate": "2e-3",
    "--report_to": "none",
}
#: Torch threads of the demo and of its trainer: the tiny models' ops are too small to share out, and two threads on
#: two cores that anything else also uses ran the VAE fit six times slower in CPU time (docs/demo.md).
TORCH_THREADS = 1
#: Deprecation warnings that diffusers 0.42 raises from its own loading code (nothing the demo or a user passes).
LIBRARY_WARNINGS = (
    r"The `local_dir_use_symlinks` argument is deprecated",
    r"`torch_dtype` is deprecated",
)
#: Placeholder for the user's Hub namespace in the printed commands.
ORG = "ORG"


@dataclass(frozen=True)
class DemoSettings:
    num_videos: int = DEFAULT_NUM_VIDEOS
    train_steps: int = DEFAULT_TRAIN_STEPS
    vae_steps: int = DEFAULT_VAE_STEPS

    def check(self) -> None:
        if self.num_videos < MIN_NUM_VIDEOS:
            raise UsageError(
                f"--num-videos must be at least {MIN_NUM_VIDEOS} (one of each planted defect and a batch of clean "
                f"clips), got {self.num_videos}"
            )
        if self.train_steps < 1:
            raise UsageError(f"--train-steps must be a positive integer, got {self.train_steps}")
        if self.vae_steps < 1:
            raise UsageError(f"--vae-steps must be a positive integer, got {self.vae_steps}")


@dataclass(frozen=True)
class DemoPaths:
    """Where the demo writes, all under `workdir`."""

    workdir: Path

    @property
    def marker(self) -> Path:
        return self.workdir / MARKER_FILE

    @property
    def release(self) -> Path:
        return self.workdir / "release"

    @property
    def dataset(self) -> Path:
        return self.workdir / "openvid-1m"

    @property
    def hub(self) -> Path:
        return self.workdir / "hub"

    @property
    def hf_home(self) -> Path:
        return self.workdir / "hf-home"

    @property
    def model(self) -> Path:
        return self.workdir / "mvdit-demo"

    @property
    def train_log(self) -> Path:
        return self.workdir / "logs" / "train.log"

    @property
    def error_log(self) -> Path:
        return self.workdir / "logs" / "error.log"

    @property
    def dataset_sheet(self) -> Path:
        return self.workdir / "dataset_contact_sheet.png"

    @property
    def video(self) -> Path:
        return self.workdir / "generated.mp4"

    @property
    def video_sheet(self) -> Path:
        return self.workdir / "generated_contact_sheet.png"

    @property
    def summary(self) -> Path:
        return self.workdir / "summary.json"


@dataclass
class Demo:
    """One run: its settings and paths, and the record each stage adds to (what `summary.json` holds)."""

    paths: DemoPaths
    settings: DemoSettings
    reused: bool = False
    endpoint: str = ""
    #: The stage running (its number and its key in `STAGES`), "0 (setup)" before the first.
    current_stage: str = "0 (setup)"
    current_stage_key: str = ""
    stages: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Every training frame (stage 4), the measure's reference in stage 6.
    training_frames: TrainingFrames | None = field(default=None, repr=False)

    def report(self, line: str, **details: Any) -> None:
        """Print the running stage's summary line and keep it, with `details`, for `summary.json`."""
        print(f"      ✔ {line}", flush=True)
        self.stages[self.current_stage_key] = {"line": line, **details}


@dataclass(frozen=True)
class NextStep:
    """Commands that do one stage of the demo for real (`ORG` stands for the user's Hub namespace)."""

    title: str
    commands: tuple[str, ...]


# Stages ---------------------------------------------------------------------------------------------------------


def write_release(demo: Demo) -> None:
    """Stage 1: the sample release (reused when an earlier run wrote it) and the loading script's skips."""
    from ..release.archives import default_index_cache_dir
    from ..release.inspect import inspect_release
    from ..testing.sample_release import write_sample_release

    paths, reused = demo.paths, demo.paths.release.is_dir()
    if not reused:
        write_sample_release(paths.release, num_videos=demo.settings.num_videos, seed=SAMPLE_SEED)
    inspected = inspect_release(paths.release, min_frames=MIN_FRAMES, index_cache_dir=default_index_cache_dir())
    skipped = inspected["skipped"]
    size = sum(path.stat().st_size for path in paths.release.rglob("*") if path.is_file())
    demo.report(
        f"{'reused' if reused else 'wrote'} a sample release in {paths.release} ({inspected['rows']} CSV rows, "
        f"{inspected['hd_rows']} HD, {inspected['videos']} videos in the zips, {size / 1e6:.1f} MB); the loading "
        f"script (min_frames={MIN_FRAMES}) skips {len(skipped)}:",
        reused=reused,
        rows=inspected["rows"],
        hd_rows=inspected["hd_rows"],
        videos=inspected["videos"],
        skipped=[{"video": skip.video, "reason": skip.reason, "detail": skip.detail} for skip in skipped],
        loading_script=inspected["summary"],
    )
    width = max((len(skip.reason) for skip in skipped), default=0)
    for skip in skipped:
        print(f"          {skip.reason:<{width}}  {skip.video}  ({skip.detail})")


def publish_dataset(demo: Demo) -> None:
    """Stage 2: `openvid-hf build` into WORKDIR/openvid-1m, then `push` (create, upload, verify) to the local Hub."""
    from ..cards import format_bytes
    from ..publish.build import build_dataset
    from ..publish.plan import BuildOptions
    from ..publish.push import push_dataset

    built = build_dataset(
        demo.paths.release, demo.paths.dataset, BuildOptions(min_frames=MIN_FRAMES, repo_id=DATASET_REPO)
    )
    pushed = push_dataset(demo.paths.dataset, DATASET_REPO)
    if not pushed.verify.ok:
        raise OpenVidError(f"{DATASET_REPO} does not match its manifest: {'; '.join(pushed.verify.problems)}")
    totals = built.manifest.totals()
    hd = sum(subsets.get("hd", {}).get("samples", 0) for subsets in totals["splits"].values())
    demo.report(
        f"{'the build is up to date' if built.up_to_date else 'built'}: {totals['samples']} clips ({hd} HD) in "
        f"{totals['shards']} shards ({format_bytes(totals['bytes'])}) in {demo.paths.dataset}; pushed to "
        f"{DATASET_REPO} (commit {pushed.commit[:7]}) and verified {pushed.verify.files} files against manifest.json",
        repo_id=DATASET_REPO,
        commit=pushed.commit,
        build=built.line(),
        push=pushed.line(),
        verify=pushed.verify.line(),
    )


def dataset_contact_sheet(demo: Demo) -> None:
    """Stage 3: stream the `hd` config back with plain `datasets` and draw a few frames of every clip."""
    import datasets

    from ..progress import progress_bar
    from .contact_sheet import SheetRow, frame_indices, save_contact_sheet

    code = f'load_dataset("{DATASET_REPO}", "hd", split="train", streaming=True)'
    stream = datasets.load_dataset(DATASET_REPO, "hd", split="train", streaming=True)
    rows = []
    total = stream.info.splits["train"].num_examples
    for example in progress_bar(stream, total=total, desc="Decoding frames", unit="clip"):
        decoder, record = example["mp4"], example["json"]
        indices = frame_indices(len(decoder), FRAMES_PER_DATASET_CLIP)
        frames = decoder.get_frames_at(indices).data.permute(0, 2, 3, 1).numpy()
        details = (
            f"key {example['__key__']} · {record['width']}x{record['height']}, {record['num_frames']} frames at "
            f"{record['fps']:g} fps · aesthetic {record['aesthetic_score']:.2f}, motion "
            f"{record['motion_score']:.1f} · {record['camera_motion']} · frames {', '.join(map(str, indices))}"
        )
        rows.append(SheetRow(list(frames), record["caption"], details))
    save_contact_sheet(rows, demo.paths.dataset_sheet, title=code)
    demo.report(
        f"{code}: {len(rows)} clips; {FRAMES_PER_DATASET_CLIP} frames of each with its caption in "
        f"{demo.paths.dataset_sheet}",
        code=code,
        clips=len(rows),
        path=str(demo.paths.dataset_sheet),
    )


def base_model(demo: Demo) -> None:
    """Stage 4: fit a tiny VAE to every training frame streamed from the Hub; push the untrained pipeline."""
    from ..training.vae_fit import fit_vae
    from .model_world import base_pipeline, demo_vae, load_training_frames

    frames = demo.training_frames = load_training_frames(DATASET_REPO)
    vae = demo_vae(seed=0)
    fit = fit_vae(vae, frames.frames, demo.settings.vae_steps, seed=0)
    base = base_pipeline(vae, frames.captions, seed=0)
    parameters = sum(parameter.numel() for parameter in base.transformer.parameters())
    base.push_to_hub(BASE_MODEL_REPO, commit_message="Tiny MVDiT, untrained, with a fitted VAE (openvid-hf demo)")
    demo.report(
        f"a {sum(p.numel() for p in vae.parameters()) / 1e3:.0f}k-parameter AutoencoderKL {fit.line()}, on "
        f"{len(frames.frames)} frames of {len(frames.captions)} training clips streamed from {DATASET_REPO}; pushed "
        f"it with a tiny random T5 and an untrained {parameters / 1e3:.0f}k-parameter MVDiT to {BASE_MODEL_REPO}",
        repo_id=BASE_MODEL_REPO,
        training_clips=len(frames.captions),
        training_frames=len(frames.frames),
        vae={
            "steps": fit.steps,
            "final_loss": round(fit.final_loss, 5),
            "reconstruction_error": round(fit.reconstruction_error, 2),
            "scaling_factor": round(fit.scaling_factor, 5),
            "seconds": round(fit.seconds, 1),
        },
        transformer_parameters=parameters,
    )


def fine_tune(demo: Demo) -> None:
    """Stage 5: `openvid-hf train` fine-tunes the untrained pipeline from the Hub and pushes the result."""
    from ..training.step_log import LOG_FILE, read_step_log
    from ..training.trainer import SUMMARY_FILE

    if demo.training_frames is None:
        raise OpenVidError("stage 4 did not load the training frames")
    shutil.rmtree(demo.paths.model, ignore_errors=True)
    arguments = training_arguments(demo.paths, demo.settings, len(demo.training_frames.captions))
    run_training(arguments, demo.paths.train_log, demo.paths.model / LOG_FILE, demo.settings.train_steps)
    summary = json.loads((demo.paths.model / SUMMARY_FILE).read_text(encoding="utf-8"))
    losses = [record["loss"] for record in read_step_log(demo.paths.model / LOG_FILE)]
    window = max(1, len(losses) // 10)
    first, last = sum(losses[:window]) / window, sum(losses[-window:]) / window
    demo.report(
        f"`openvid-hf train` trained {BASE_MODEL_REPO} from the Hub on {DATASET_REPO} for {summary['steps']} steps "
        f"(mean loss of the first and last {window} steps {first:.3f} → {last:.3f}, {summary['seconds']:.0f} s) and "
        f"pushed it to {MODEL_REPO}",
        base_model=BASE_MODEL_REPO,
        repo_id=MODEL_REPO,
        command=" ".join(["openvid-hf", "train", *arguments]),
        losses=losses,
        training_summary=summary,
        log=str(demo.paths.train_log),
    )


def generate_video(demo: Demo) -> None:
    """Stage 6: a training clip's caption through the trained and the untrained pipelines; measure; mp4; sheet."""
    from ..pipelines import DEFAULT_FPS, MVDiTPipeline
    from ..video.decoding import probe_video
    from .contact_sheet import SheetRow, save_contact_sheet
    from .learning import measure_learning, prompt_clip, round_trip

    frames = demo.training_frames
    if frames is None:
        raise OpenVidError("stage 4 did not load the training frames")
    code = f'MVDiTPipeline.from_pretrained("{MODEL_REPO}")'
    trained = MVDiTPipeline.from_pretrained(MODEL_REPO)
    clip_of_frame = frames.clip_of_frame.numpy()
    references = round_trip(trained.vae, frames.frames)
    clip = prompt_clip(trained.tokenizer, frames.captions, references, clip_of_frame)
    prompt = frames.captions[clip]
    videos = {
        repo_id: _generate(pipe, prompt, f"Denoising ({repo_id})")
        for repo_id, pipe in ((MODEL_REPO, trained), (BASE_MODEL_REPO, MVDiTPipeline.from_pretrained(BASE_MODEL_REPO)))
    }
    write_video(demo.paths.video, videos[MODEL_REPO], DEFAULT_FPS)
    probe = probe_video(demo.paths.video)
    measure = measure_learning(
        videos[MODEL_REPO], videos[BASE_MODEL_REPO], references, clip_of_frame == clip, FRAME_INTERVAL
    )
    settings = f"{GENERATION_STEPS} steps, guidance {GUIDANCE_SCALE:g}, seed {GENERATION_SEED}"
    save_contact_sheet(
        [
            SheetRow(
                list(videos[MODEL_REPO]),
                prompt,
                f"{MODEL_REPO}, trained {demo.settings.train_steps} steps · {settings} · nearest training frame "
                f"{measure.trained.mean_distance:.0f} levels away on average · bar moves "
                f"{measure.trained_bar.direction}",
            ),
            SheetRow(
                [references[index] for index in measure.trained.frame_indices],
                f"the training frame nearest to each frame above (after the VAE round trip); "
                f"{sum(measure.trained.own_clip)} of {len(measure.trained.own_clip)} from the prompt's clip, "
                f"key {frames.keys[clip]}",
                f"the prompt's clip: bar moves {measure.clip_bar.direction}",
            ),
            SheetRow(
                list(videos[BASE_MODEL_REPO]),
                "the same prompt and seed through the untrained pipeline",
                f"{BASE_MODEL_REPO} · nearest training frame {measure.untrained.mean_distance:.0f} levels away "
                f"(uniform noise: {measure.noise.mean_distance:.0f})",
            ),
        ],
        demo.paths.video_sheet,
        title=code,
        frame_height=2 * GENERATED_SIZE,
    )
    demo.report(
        f"{code}: {probe.num_frames} frames of {probe.width}x{probe.height} at {probe.fps:g} fps in "
        f"{demo.paths.video} for the caption of training clip {frames.keys[clip]}; {measure.line()}; frames in "
        f"{demo.paths.video_sheet}",
        code=code,
        prompt=prompt,
        prompt_clip_key=frames.keys[clip],
        learning=measure.summary(),
        video=str(demo.paths.video),
        contact_sheet=str(demo.paths.video_sheet),
    )


def _generate(pipe: MVDiTPipeline, prompt: str, description: str) -> np.ndarray:
    """The demo's video of `prompt` (size, length, steps, guidance and seed fixed above), `[T, H, W, 3]` uint8."""
    import numpy as np
    import torch

    pipe.set_progress_bar_config(desc=description)
    frames = pipe(
        prompt,
        height=GENERATED_SIZE,
        width=GENERATED_SIZE,
        num_frames=GENERATED_FRAMES,
        num_inference_steps=GENERATION_STEPS,
        guidance_scale=GUIDANCE_SCALE,
        generator=torch.Generator().manual_seed(GENERATION_SEED),
        max_sequence_length=pipe.transformer.config.max_text_length,
    ).frames[0]
    return (np.asarray(frames) * 255).round().astype(np.uint8)


def next_steps(demo: Demo) -> None:
    """Stage 6: where everything is, and the same steps against the real release, Hub and weights."""
    paths = demo.paths
    places = {
        "sample release": paths.release,
        "published dataset": paths.dataset,
        "local Hub repositories": paths.hub,
        "dataset contact sheet": paths.dataset_sheet,
        "fine-tuned pipeline": paths.model,
        "training output": paths.train_log,
        "generated video": paths.video,
        "video contact sheet": paths.video_sheet,
        "summary": paths.summary,
    }
    width = max(map(len, places))
    for name, path in places.items():
        print(f"        {name:<{width}}  {path}")
    print(
        f"      browse the demo's Hub again: python -m openvid_hf.testing.hub --root {paths.hub}, then "
        f"HF_ENDPOINT=<printed URL> HF_HUB_DISABLE_XET=1 (repos {DATASET_REPO}, {BASE_MODEL_REPO}, {MODEL_REPO})"
    )
    print(f"      the same steps for real ({ORG} = your Hub user or organisation; `hf auth login` first):")
    for step in NEXT_STEPS:
        print(f"        # {step.title}")
        for command in step.commands:
            print(f"        {command}")
    demo.report(
        f"everything is in {paths.workdir}; the commands above run the same steps on the real OpenVid-1M",
        paths={name: str(path) for name, path in places.items()},
        commands=[asdict(step) for step in NEXT_STEPS],
    )


NEXT_STEPS = (
    NextStep(
        "1. what the loading script keeps and skips in the real release (range reads: nothing downloaded whole)",
        (f"openvid-hf inspect hf://datasets/nkp37/OpenVid-1M --min-frames {MIN_FRAMES}",),
    ),
    NextStep(
        "2. build the published layout, push it, verify it",
        (
            f"openvid-hf build hf://datasets/nkp37/OpenVid-1M openvid-1m --min-frames {MIN_FRAMES} --num-proc 8 "
            f"--repo-id {ORG}/OpenVid-1M",
            f"openvid-hf push openvid-1m --repo-id {ORG}/OpenVid-1M",
            f"openvid-hf verify {ORG}/OpenVid-1M",
        ),
    ),
    NextStep(
        "3. stream it with plain datasets",
        (
            f'python -c \'from datasets import load_dataset; print(next(iter(load_dataset("{ORG}/OpenVid-1M", '
            f'"hd", split="train", streaming=True)))["json"])\'',
        ),
    ),
    NextStep(
        "4. the released MVDiT weights as a diffusers pipeline (real T5 and VAE), then fine-tune it from the Hub",
        (
            "hf download nkp37/OpenVid-1M model_weights/MVDiT-16x512x512.pt --local-dir .",
            "openvid-hf convert model_weights/MVDiT-16x512x512.pt mvdit-512 --variant 16x512x512 --text-encoder "
            f"DeepFloyd/t5-v1_1-xxl --vae stabilityai/sd-vae-ft-ema --push-to-hub {ORG}/MVDiT-16x512x512",
            f"accelerate launch -m openvid_hf.train --pretrained_model_name_or_path {ORG}/MVDiT-16x512x512 "
            f"--dataset_name {ORG}/OpenVid-1M --resolution 512 --num_frames 16 --train_batch_size 4 "
            "--max_train_steps 20000 --learning_rate 2e-5 --mixed_precision bf16 --gradient_checkpointing "
            f"--precompute_text_embeddings --push_to_hub --hub_model_id {ORG}/mvdit-fine-tuned",
        ),
    ),
    NextStep(
        "5. generate a video with the fine-tuned pipeline",
        (f'openvid-hf generate --model {ORG}/mvdit-fine-tuned --prompt "{PROMPT}" --out video.mp4',),
    ),
)

#: The stages in order: (key in summary.json, title printed before it, function).
STAGES: tuple[tuple[str, str, Callable[[Demo], None]], ...] = (
    ("release", "Sample release in the original layout, and what the loading script skips", write_release),
    ("dataset", f"Build the published layout, push it to {DATASET_REPO}, verify it", publish_dataset),
    ("contact_sheet", "Load it back with plain datasets (hd config, streaming)", dataset_contact_sheet),
    (
        "base_model",
        f"Fit a tiny VAE to the training frames, push an untrained pipeline to {BASE_MODEL_REPO}",
        base_model,
    ),
    ("fine_tune", f"Train it from the Hub with `openvid-hf train`, push to {MODEL_REPO}", fine_tune),
    ("generate", f'Generate a video with MVDiTPipeline.from_pretrained("{MODEL_REPO}")', generate_video),
    ("next_steps", "Where everything is, and the same steps for real", next_steps),
)


# The run ---------------------------------------------------------------------------------------------------------


def run_demo(workdir: str | Path, settings: DemoSettings | None = None, clean: bool = False) -> Demo:
    """Run every stage against a local Hub stored in `workdir`, then write `summary.json`; returns the record.

    Any failure becomes one `OpenVidError` line naming the stage (the traceback goes to WORKDIR/logs/error.log);
    the server stops however the run ends, Ctrl-C included.
    """
    from ..testing.hub_clients import point_clients_at

    settings = settings or DemoSettings()
    settings.check()
    demo = Demo(DemoPaths(Path(workdir)), settings)
    demo.reused = prepare_workdir(demo.paths, settings, clean)
    started = time.perf_counter()
    outcome = "interrupted"
    try:
        with (
            warnings.catch_warnings(),
            _torch_threads(TORCH_THREADS),
            _local_hub(demo.paths.hub) as server,
            point_clients_at(server.endpoint, token=DEMO_TOKEN, home=demo.paths.hf_home),
        ):
            for message in LIBRARY_WARNINGS:
                warnings.filterwarnings("ignore", message=message)
            demo.endpoint = server.endpoint
            state = (
                "reusing the release, the build and the Hub of an earlier run (--clean starts over)"
                if demo.reused
                else "new (a re-run reuses the release, the build and the Hub)"
            )
            print(
                f"openvid-hf demo: OpenVid-1M and MVDiT end to end on a {settings.num_videos}-video sample, offline, "
                f"on CPU\n  local Hub (a test double of huggingface.co): {server.endpoint}, repositories in "
                f"{demo.paths.hub}\n  workdir {demo.paths.workdir}: {state}",
                flush=True,
            )
            for number, (key, title, stage) in enumerate(STAGES, start=1):
                demo.current_stage, demo.current_stage_key = f"{number} ({key})", key
                _run_stage(demo, number, title, stage)
        outcome = "ok"
    except OpenVidError:
        outcome = "failed"
        raise
    finally:
        _write_summary(demo, outcome, time.perf_counter() - started)
    print(f"openvid-hf demo: done in {time.perf_counter() - started:.0f} s; summary in {demo.paths.summary}")
    return demo


@contextmanager
def _torch_threads(count: int) -> Iterator[None]:
    """Run the block with `count` torch threads, then restore the caller's setting."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@contextmanager
def _local_hub(root: Path) -> Iterator[HubServer]:
    """The demo's Hub server, stopped however the block ends; a server that cannot start is one error line."""
    from ..testing.hub import HubServer

    try:
        server = HubServer(root).start()
    except OSError as error:
        raise OpenVidError(f"cannot start the local Hub in {root}: {error}") from error
    try:
        yield server
    finally:
        server.stop()


def _run_stage(demo: Demo, number: int, title: str, stage: Callable[[Demo], None]) -> None:
    print(f"\n[{number}/{len(STAGES)}] {title}", flush=True)
    started = time.perf_counter()
    try:
        stage(demo)
    except KeyboardInterrupt:
        raise
    except Exception as error:
        demo.paths.error_log.parent.mkdir(parents=True, exist_ok=True)
        demo.paths.error_log.write_text(traceback.format_exc(), encoding="utf-8")
        message = first_line(error)
        if not isinstance(error, OpenVidError):
            message = f"{type(error).__name__}: {message}"
        raise OpenVidError(
            f"demo stage {number} ({title}) failed: {message} (details in {demo.paths.error_log})"
        ) from error
    demo.stages[demo.current_stage_key]["seconds"] = round(time.perf_counter() - started, 2)


def prepare_workdir(paths: DemoPaths, settings: DemoSettings, clean: bool) -> bool:
    """Make `paths.workdir` ready; True when an earlier run's outputs are kept for reuse.

    Only a folder holding the demo's marker is ever deleted: `--clean` deletes it, and so does a run with other
    settings than the earlier one (its release would not match). Any other non-empty folder is refused.
    """
    workdir, wanted = paths.workdir, _marker_content(settings)
    if workdir.exists() and not workdir.is_dir():
        raise OpenVidError(f"--workdir {workdir} is a file; choose a folder")
    reused = False
    if workdir.is_dir() and any(workdir.iterdir()):
        try:
            earlier = json.loads(paths.marker.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raise OpenVidError(
                f"--workdir {workdir} is not empty and was not written by `openvid-hf demo`; choose another folder"
            ) from None
        reused = not clean and earlier == wanted
        if not reused:
            shutil.rmtree(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    write_text(paths.marker, json.dumps(wanted, indent=2) + "\n")
    return reused


def _marker_content(settings: DemoSettings) -> dict[str, Any]:
    return {"openvid_hf": __version__, "num_videos": settings.num_videos, "sample_seed": SAMPLE_SEED}


def _write_summary(demo: Demo, outcome: str, seconds: float) -> None:
    summary = {
        "status": outcome if outcome == "ok" else f"{outcome} at stage {demo.current_stage}",
        "seconds": round(seconds, 1),
        "openvid_hf": __version__,
        "settings": asdict(demo.settings),
        "reused_earlier_run": demo.reused,
        "local_hub": {"endpoint": demo.endpoint, "root": str(demo.paths.hub), "stopped": True},
        "stages": demo.stages,
    }
    write_text(demo.paths.summary, json.dumps(summary, indent=2, ensure_ascii=False) + "\n")


# Helpers ---------------------------------------------------------------------------------------------------------


def training_arguments(paths: DemoPaths, settings: DemoSettings, num_clips: int) -> list[str]:
    """The `openvid-hf train` arguments of stage 5, for a training split of `num_clips` clips."""
    options = {
        "--pretrained_model_name_or_path": BASE_MODEL_REPO,
        "--dataset_name": DATASET_REPO,
        **TRAINING_OPTIONS,
        "--train_batch_size": str(min(TRAIN_BATCH_SIZE, num_clips)),
        "--max_train_steps": str(settings.train_steps),
        "--output_dir": str(paths.model),
        "--hub_model_id": MODEL_REPO,
    }
    return [*(item for pair in options.items() for item in pair), "--push_to_hub"]


def run_training(arguments: list[str], log_path: Path, step_log: Path, steps: int) -> None:
    """Run `openvid-hf train ARGUMENTS` in a subprocess with this process's environment (the local Hub's), on
    `TORCH_THREADS` threads.

    Its output goes to `log_path`; a progress bar follows the steps it logs. A failure is one line (the trainer's
    own last line) naming the log; the subprocess never outlives this call (Ctrl-C included).
    """
    from ..progress import progress_bar
    from ..training.step_log import read_step_log

    log_path.parent.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "openvid_hf", "train", *arguments]
    with (
        open(log_path, "wb") as log,
        progress_bar(total=steps, desc="Fine-tuning", unit="step") as progress,
        _ctrl_c_flag() as interrupted,
    ):
        environment = {**os.environ, "OMP_NUM_THREADS": str(TORCH_THREADS)}
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=environment)
        try:
            while process.poll() is None:
                if interrupted.is_set():
                    raise KeyboardInterrupt
                time.sleep(0.2)
                records = read_step_log(step_log)
                if len(records) > progress.n:
                    progress.update(len(records) - progress.n)
                    progress.set_postfix(loss=f"{records[-1]['loss']:.4f}")
        finally:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
    if process.returncode != 0:
        raise OpenVidError(
            f"`openvid-hf train` exited with status {process.returncode}: {_last_line(log_path)} "
            f"(its output: {log_path})"
        )


@contextmanager
def _ctrl_c_flag() -> Iterator[threading.Event]:
    """A flag Ctrl-C (SIGINT) sets, for a loop to stop at a point of its choosing.

    Python raises `KeyboardInterrupt` wherever the main thread is; raised inside a finaliser (a closing file, tqdm's
    cleanup), it is printed and lost, and training went on. Setting a flag cannot be lost. Off the main thread
    (where signal handlers cannot be set) the flag is never set and Ctrl-C behaves as usual.
    """
    flag = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return
    previous = signal.signal(signal.SIGINT, lambda *_: flag.set())
    try:
        yield flag
    finally:
        signal.signal(signal.SIGINT, previous)


def _last_line(path: Path) -> str:
    """The last non-empty line of a log whose progress bars rewrite lines with carriage returns."""
    text = path.read_text(encoding="utf-8", errors="replace").replace("\r", "\n")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "no output"
