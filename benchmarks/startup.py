"""asv: the import a user pays before the first model, in a new process each time."""

from .common import LIBRARIES

_MODULE = {"sklearn": "sklearn.neural_network", "fastmlp": "fastmlp"}


class Import:
    params = [LIBRARIES]
    param_names = ["library"]

    def timeraw_import(self, library):
        return "import %s" % _MODULE[library]
