"""One module per revision, chained by ``down_revision``; ids are ``NNNN_name``."""
