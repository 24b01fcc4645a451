"""diffusers' own test helpers, brought in verbatim (see each file's header); the MVDiT tests import them.

Not collected: the files named test_*.py here are helper modules of diffusers' test suite, not tests of openvid-hf.
"""

collect_ignore_glob = ["*"]
