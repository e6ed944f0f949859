"""Market data: bundled sets, file loading and validation, resampling, the import store."""

# Where `engine data import` writes and `store:` data sets are read from (run config,
# train, select): one default, here because this package imports nothing heavy.
DEFAULT_STORE = "var/store"
