"""`make bench`: the audit's cost measured against baselines taken in the same run.

Absolute timings depend on the machine; ratios against a baseline measured seconds earlier on the
same machine do not (much), so every row compares the two and says PASS or FAIL against the
issue's target. Nothing here is a test: the suite asserts behaviour, this prints speed.
"""
