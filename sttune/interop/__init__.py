"""What leaves sttune: saved models, sensor lists, StrategyLoop and the Lightning callback."""
