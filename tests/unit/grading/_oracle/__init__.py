"""Test oracle: the grading fit/grade code before the issue-16 optimisation (commit 1bc46ff).

Imported by the parity tests beside this package; never by the library.
"""
