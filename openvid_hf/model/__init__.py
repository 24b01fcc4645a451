"""MVDiT checkpoints to diffusers: strict conversion of the original weights, the model card, remote code, and
saving or pushing an `MVDiTPipeline` with them.
"""
