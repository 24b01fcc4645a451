"""The original OpenVid-1M release, read in place: its layout, CSVs, zip parts (split ones joined), the reader that
locates, reads and filters every clip, and `inspect`.
"""
