"""Video files: the mp4 header reader, probing and the three decoding backends, and one training clip's frame
sampling and transform.
"""
