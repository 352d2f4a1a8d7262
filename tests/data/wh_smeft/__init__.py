"""Real SMEFT W+h test data (see README.md); a package only so that pytest imports ``make_files`` under a
name that does not clash with ``tests/data/madminer096/make_files.py``."""
