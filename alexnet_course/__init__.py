"""alexnet-course: models, data, training loop and helpers for the executable book.

Import the pieces you need from their modules, e.g.::

    from alexnet_course.data import load_fashion_mnist
    from alexnet_course.models import get_model
    from alexnet_course.train import fit
"""

__version__ = "0.1.0"
