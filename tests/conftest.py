import os
import sys

# tests/naive.py holds the NumPy references; make it importable as `naive`.
sys.path.insert(0, os.path.dirname(__file__))
