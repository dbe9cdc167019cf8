"""What-if over recorded history: explain one rule for one customer, backtest a rules folder."""
