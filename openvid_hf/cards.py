"""Cards rendered from the Jinja templates of `model_cards/` through `huggingface_hub`'s card classes.

`render_card` and `write_card` serve every card (the dataset card in `publish.dataset_card`, the model card in
`model.model_card`).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .atomic import write_text

if TYPE_CHECKING:
    from huggingface_hub import CardData, RepoCard

TEMPLATE_PACKAGE = "openvid_hf.model_cards"
#: Where a Hub repository keeps its card.
CARD_FILE = "README.md"


def load_template(name: str) -> str:
    return resources.files(TEMPLATE_PACKAGE).joinpath(name).read_text(encoding="utf-8")


def render_card(card_class: type[RepoCard], template: str, card_data: CardData, **context: Any) -> RepoCard:
    """`card_class.from_template` with a template of `model_cards/`; its YAML header is `card_data`."""
    return card_class.from_template(card_data, template_str=load_template(template), **context)


def write_card(card: RepoCard, path: str | Path) -> bool:
    """Write the card under a temporary name, then rename; False (nothing written) when the file already holds it."""
    path = Path(path)
    text = str(card)
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        return False
    write_text(path, text)
    return True


def format_bytes(count: int) -> str:
    """`3.61 MB`, `1.00 GB`: decimal units, as the Hub shows sizes."""
    from tqdm import tqdm

    text = tqdm.format_sizeof(count, "B", 1000)
    return text[:-2] + " " + text[-2:] if text[-2:-1].isalpha() else text[:-1] + " B"
