"""`openvid-hf demo`: the whole story end to end on an embedded sample, one function per stage, and its contact
sheets.
"""
