"""Risk policy: bankruptcy and liquidation prices (prices.py); liquidation, insurance fund and
auto-deleveraging build on them."""
