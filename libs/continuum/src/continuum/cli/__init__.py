"""The ``continuum`` command line (also installed as ``jtag``)."""
