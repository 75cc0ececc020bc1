"""The DLR baseline: the product's settings and URLs plus one view doing one UPDATE.

Served by a gunicorn with the same settings as the product's, so the ratio between
the two says what the DLR callback costs beyond the least any Django view must do.
"""
