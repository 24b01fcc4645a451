"""Curation: raw videos to a release in the original OpenVid-1M layout, by the paper's pipeline.

One module per stage, each a pure per-clip (or per-source-video) function: `scenes` (cuts and clip files),
`motion` (optical-flow motion score and camera-motion class), `clarity` (sharpness), `consistency` and
`aesthetics` (CLIP), `captions` (a video captioning model). `results` keeps each stage's table so work resumes
and thresholds are re-applied without recomputing, `filters` decides what is kept and why the rest is dropped,
`writer` writes the release, and `pipeline` drives the stages through a `map`-like executor
(docs/curation.md).
"""
