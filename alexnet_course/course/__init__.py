"""What the chapter notebooks import around the library: the chapter context (profile,
seeds, glue, results), runs and ablations, figures, explorers and the results summary.

It imports the library (``alexnet_course.models``, ``.data``, ``.train`` …); the library
never imports it. Its modules need IPython, ipywidgets and matplotlib, which the library
does not.
"""
