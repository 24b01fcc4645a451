"""What openvid-hf adds to the diffusers code of `pipelines/`: conversion as a function and from PixArt-α, the model
card rendered from its template, and saving or pushing an `MVDiTPipeline` with it.
"""
