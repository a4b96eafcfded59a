"""Inference backends behind one contract (``base.Backend``), found through ``registry``."""
