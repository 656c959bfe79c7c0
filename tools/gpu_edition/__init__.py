"""The GPU edition in one command (``tools/gpu_edition.sh``): run the ``full`` profile and
the GPU benchmarks inside a time budget, then pack what they wrote into one archive.

Never installed and never imported by the package; run as ``python -m tools.gpu_edition``.
"""
