"""The ML signal filter: leak-safe features, triple-barrier labels, purged
walk-forward validation, an XGBoost probability model, a versioned registry and
decay tracking. Heavy modules (pandas, ta, xgboost) are imported by the
submodules that need them, never here."""
