"""SVE and a FLAP-style baseline on all-MiniLM-L6-v2, in NumPy (issue 10 items 4 and 5)."""
