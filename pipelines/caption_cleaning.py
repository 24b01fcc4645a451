"""The caption normalisation MVDiT's T5 prompts went through in training (PixArt-α's, reused by OpenVid-1M).

Prompts at inference should be normalised the same way: lower case, no URLs, HTML, handles, CJK characters, file
names, long numbers or shop boilerplate, one kind of dash and quote. The original applies the whole procedure twice,
so `clean_caption` does too. ftfy and BeautifulSoup are imported on first use: only prompts that ask for cleaning need
them.
"""

from __future__ import annotations

import html
import re
import urllib.parse

_FILE_EXTENSIONS = "png|jpg|jpeg|bmp|webp|eps|pdf|apk|mp4"
_URL_DOMAINS = r"[a-zA-Z0-9.\-]+[.](?:com|co|ru|net|org|edu|gov|it)[\w/-]*\b\/?(?!@)"
_DASHES = (
    "\u002d\u058a\u05be\u1400\u1806\u2010-\u2015\u2e17\u2e1a\u2e3a\u2e3b\u2e40\u301c\u3030\u30a0\ufe31\ufe32\ufe58"
    "\ufe63\uff0d"
)
_NOISY_PUNCTUATION = r"#®•©™&@·º½¾¿¡§~()\[\]{}|\\/*"


def _substitutions(*rules: tuple[str, str]) -> list[tuple[re.Pattern[str], str]]:
    return [(re.compile(pattern), replacement) for pattern, replacement in rules]


# Applied in order after the text is lower-cased and stripped of HTML.
_BEFORE_TEXT_FIX = _substitutions(
    (r"@[\w\d]+\b", ""),  # @handles
    ("[\u31c0-\u9fff]+", ""),  # CJK strokes, kana extensions, enclosed letters, compatibility, ideographs
    (f"[{_DASHES}]+", "-"),
    ("[`´«»“”¨]", '"'),
    ("[‘’]", "'"),
    (r"&quot;?", ""),
    (r"&amp", ""),
    (r"\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}", " "),  # IP addresses
    (r"\d:\d\d\s+$", ""),  # trailing article ids
    (r"\\n", " "),  # escaped new lines
    (r"#\d{1,3}\b", ""),
    (r"#\d{5,}\b", ""),
    (r"\b\d{6,}\b", ""),
    (rf"[\S]+\.(?:{_FILE_EXTENSIONS})", ""),  # file names
    (r"[\"']{2,}", '"'),
    (r"[\.]{2,}", " "),
    (f"[{_NOISY_PUNCTUATION}]+", " "),
    (r"\s+\.\s+", " "),
)
_WORD_SEPARATORS = re.compile(r"[-_]")
_AFTER_TEXT_FIX = _substitutions(
    (r"\b[a-zA-Z]{1,3}\d{3,15}\b", ""),  # product codes: jc6640
    (r"\b[a-zA-Z]+\d+[a-zA-Z]+\b", ""),  # jc6640vc
    (r"\b\d+[a-zA-Z]+\d+\b", ""),  # 6640vc231
    (r"(worldwide\s+)?(free\s+)?shipping", ""),
    (r"(free\s)?download(\sfree)?", ""),
    (r"\bclick\b\s(?:for|on)\s\w+", ""),
    (rf"\b(?:{_FILE_EXTENSIONS})(\simage[s]?)?", ""),
    (r"\bpage\s+\d+\b", ""),
    (r"\b\d*[a-zA-Z]+\d+[a-zA-Z]+\d+[a-zA-Z\d]*\b", " "),  # j2d1a2a
    (r"\b\d+\.?\d*[xх×]\d+\.?\d*\b", ""),  # sizes: 1920x1080
    (r"\b\s+\:\s+", ": "),
    (r"(\D[,\./])\b", r"\1 "),
    (r"\s+", " "),
    (r"^[\"']([\w\W]+)[\"']$", r"\1"),  # one pair of enclosing quotes
    (r"^['_,\-:;]", ""),
    (r"['_,\-:+]$", ""),
    (r"^\.\S+$", ""),
)


def _clean_once(caption: str) -> str:
    from bs4 import BeautifulSoup
    from ftfy import fix_text

    caption = urllib.parse.unquote_plus(str(caption)).strip().lower()
    caption = caption.replace("<person>", "person")
    for scheme in ("https?:", "www:"):
        caption = re.sub(rf"\b((?:{scheme}(?:\/{{1,3}}|[a-zA-Z0-9%])|{_URL_DOMAINS}))", "", caption)
    caption = BeautifulSoup(caption, features="html.parser").text
    for pattern, replacement in _BEFORE_TEXT_FIX:
        caption = pattern.sub(replacement, caption)
    if len(_WORD_SEPARATORS.findall(caption)) > 3:  # this-is-a-slug / this_is_a_slug
        caption = _WORD_SEPARATORS.sub(" ", caption)
    caption = html.unescape(html.unescape(fix_text(caption))).strip()
    for pattern, replacement in _AFTER_TEXT_FIX:
        caption = pattern.sub(replacement, caption)
    return caption.strip()


def clean_caption(caption: str) -> str:
    """Normalise one prompt exactly as the training captions were (the procedure, applied twice)."""
    try:
        return _clean_once(_clean_once(caption))
    except ModuleNotFoundError as error:
        if error.name not in ("bs4", "ftfy"):
            raise
        raise ImportError(
            "clean_caption=True needs ftfy and beautifulsoup4 (pip install ftfy beautifulsoup4), "
            "or pass clean_caption=False"
        ) from error
