"""Contact sheets: one PNG showing a few frames of each video, one row per video, with its caption underneath.

The demo writes two: frames of the published dataset as plain `datasets` streams them, and the frames of the video
a pipeline generated. Frames are shown at a common height; small frames are enlarged with nearest-neighbour
resampling so their real pixels stay visible.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ..atomic import replacing

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont

#: Fonts tried for the text, by file name (Pillow searches the system's font folders): each character is drawn with
#: the first one that has its glyph (so Latin and CJK mix in one caption). Without any of them, Pillow's own font.
FONT_FILES = ("DejaVuSans.ttf", "NotoSans-Regular.ttf", "NotoSansCJK-Regular.ttc", "DroidSansFallbackFull.ttf")
#: A character no font maps: what a font draws for it is its "missing glyph" box.
_UNMAPPED = "\uffff"
MARGIN = 12
GAP = 4
BACKGROUND = (255, 255, 255)
TEXT_COLOR = (20, 20, 20)
DETAILS_COLOR = (110, 110, 110)


@dataclass(frozen=True)
class SheetRow:
    """One video: its frames (uint8 RGB arrays `[H, W, 3]`), its caption, and a line of details above the caption."""

    frames: Sequence[np.ndarray]
    caption: str
    details: str = ""


def frame_indices(num_frames: int, count: int) -> list[int]:
    """`count` frame indices spread evenly from the first frame to the last (fewer if the video is shorter)."""
    if num_frames <= 0 or count <= 0:
        return []
    if count == 1 or num_frames == 1:
        return [0]
    return sorted({round(position * (num_frames - 1) / (count - 1)) for position in range(count)})


def render_contact_sheet(
    rows: Sequence[SheetRow],
    title: str = "",
    frame_height: int = 96,
    font_size: int = 13,
    max_caption_lines: int = 3,
) -> Image.Image:
    """The sheet as an RGB image: `title`, then per row the frames side by side, the details and the caption."""
    if not rows:
        raise ValueError("a contact sheet needs at least one row")
    strips = [_strip(row.frames, frame_height) for row in rows]
    width = max(480, max(strip.width for strip in strips)) + 2 * MARGIN
    text_width = width - 2 * MARGIN
    line_height = round(font_size * 1.35)

    blocks: list[tuple[Image.Image | None, list[tuple[str, tuple[int, int, int], int]]]] = []
    if title:
        blocks.append((None, [(line, TEXT_COLOR, font_size + 3) for line in _wrap(title, text_width, font_size + 3)]))
    for row, strip in zip(rows, strips, strict=True):
        lines = [(line, DETAILS_COLOR, font_size - 1) for line in _wrap(row.details, text_width, font_size - 1)]
        caption = _wrap(row.caption, text_width, font_size)
        if len(caption) > max_caption_lines:
            last = _fit(caption[max_caption_lines - 1] + " …", text_width, font_size)
            caption = [*caption[: max_caption_lines - 1], last]
        lines += [(line, TEXT_COLOR, font_size) for line in caption]
        blocks.append((strip, lines))

    height = MARGIN + sum(
        (strip.height + GAP if strip else 0) + len(lines) * line_height + MARGIN for strip, lines in blocks
    )
    sheet = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    y = MARGIN
    for strip, lines in blocks:
        if strip is not None:
            sheet.paste(strip, (MARGIN, y))
            y += strip.height + GAP
        for text, color, size in lines:
            x = MARGIN
            for run, font in _font_runs(text, size):
                draw.text((x, y), run, fill=color, font=font)
                x += font.getlength(run)
            y += line_height
        y += MARGIN
    return sheet


def save_contact_sheet(rows: Sequence[SheetRow], path: str | Path, **options) -> Path:
    """Render (see `render_contact_sheet`) and write the sheet as a PNG, complete or not at all."""
    path = Path(path)
    sheet = render_contact_sheet(rows, **options)
    with replacing(path) as temporary:
        sheet.save(temporary, format="PNG", optimize=True)
    return path


def _strip(frames: Sequence[np.ndarray], height: int) -> Image.Image:
    """The frames side by side, each scaled to `height` pixels keeping its aspect ratio."""
    if len(frames) == 0:
        raise ValueError("a contact sheet row needs at least one frame")
    images = []
    for frame in frames:
        image = Image.fromarray(np.ascontiguousarray(frame, dtype=np.uint8), mode="RGB")
        width = max(1, round(image.width * height / image.height))
        resample = Image.Resampling.NEAREST if height >= image.height else Image.Resampling.LANCZOS
        images.append(image.resize((width, height), resample))
    strip = Image.new("RGB", (sum(image.width for image in images) + GAP * (len(images) - 1), height), BACKGROUND)
    x = 0
    for image in images:
        strip.paste(image, (x, 0))
        x += image.width + GAP
    return strip


def _wrap(text: str, width: int, size: int) -> list[str]:
    """`text` broken into lines of at most `width` pixels: at spaces, inside words only when a word is too long."""
    lines: list[str] = []
    for paragraph in text.splitlines():
        line = ""
        for word in paragraph.split():
            candidate = f"{line} {word}" if line else word
            if _text_width(candidate, size) <= width:
                line = candidate
                continue
            if line:
                lines.append(line)
            line = ""
            for character in word:  # a word wider than the sheet (or text without spaces, such as Japanese)
                if line and _text_width(line + character, size) > width:
                    lines.append(line)
                    line = ""
                line += character
        if line:
            lines.append(line)
    return lines


def _fit(line: str, width: int, size: int) -> str:
    """`line` shortened from before its trailing ellipsis until it fits `width`."""
    while len(line) > 2 and _text_width(line, size) > width:
        line = line[:-3] + line[-2:]
    return line


def _text_width(text: str, size: int) -> float:
    return sum(font.getlength(run) for run, font in _font_runs(text, size))


def _font_runs(text: str, size: int) -> list[tuple[str, Font]]:
    """`text` cut into runs of characters that one font draws: per character, the first font with its glyph."""
    fonts = _fonts(size)
    runs: list[tuple[str, Font]] = []
    for character in text:
        font = next((font for font in fonts if _has_glyph(font, character)), fonts[0])
        if runs and runs[-1][1] is font:
            runs[-1] = (runs[-1][0] + character, font)
        else:
            runs.append((character, font))
    return runs


@functools.cache
def _fonts(size: int) -> tuple[Font, ...]:
    fonts = []
    for name in FONT_FILES:
        try:
            fonts.append(ImageFont.truetype(name, size))
        except OSError:
            continue
    return tuple(fonts) or (ImageFont.load_default(size),)


@functools.cache
def _has_glyph(font: Font, character: str) -> bool:
    """False when the font would draw `character` as its missing-glyph box (spaces always count as drawable)."""
    return character.isspace() or _mask(font, character) != _mask(font, _UNMAPPED)


@functools.cache
def _mask(font: Font, character: str) -> tuple[tuple[int, int], bytes]:
    mask = font.getmask(character)
    return mask.size, bytes(mask)
