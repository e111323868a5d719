"""The ``fastrnn`` command line: ``demo``, ``info`` and ``bench`` (see ``fastrnn.__main__``)."""
