"""Risk: position sizing and the pre-trade guard chain, configured by specs/risk/*.yaml."""
