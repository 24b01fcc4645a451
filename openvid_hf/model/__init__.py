"""What openvid-hf adds to the diffusers code of `pipelines/`: conversion as a function and from PixArt-α, and the
model card rendered from its template (which `MVDiTPipeline.save_pretrained`/`push_to_hub` find through the
`mvdit.publishing` entry points, so `pipelines/` never imports this package).
"""
