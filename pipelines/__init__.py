"""diffusers code for MVDiT (installed as `openvid_hf.pipelines`).

These modules import only torch, diffusers and transformers, never `openvid_hf`, so the same files can be
published to a Hub repository as remote code.
"""

from .transformer_mvdit import MVDiTTransformer3DModel

__all__ = ["MVDiTTransformer3DModel"]
