"""The command-line front end: ``quantarena --batch`` and the ``grade``/``size``/``plan`` tools."""
