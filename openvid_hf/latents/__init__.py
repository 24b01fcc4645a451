"""Latent datasets: a published dataset's clips encoded once (VAE posteriors, T5 embeddings) for every fine-tune.

`openvid-hf encode` samples each clip's window as training does, runs the frozen VAE and text encoder, and writes
the results in the published layout (`layout`), with a manifest and a card that record what produced them;
`openvid-hf train --latents_dataset` reads them with no encoder loaded. Decisions: `docs/latents.md`.
"""
