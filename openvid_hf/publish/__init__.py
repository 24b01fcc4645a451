"""The published dataset: the plan and shard build, the resume journal, the manifest, the dataset card, and
`push`, `verify` and the metadata loader.
"""
