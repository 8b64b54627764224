"""TickerPulse domain: prices, quality, features, forecasting and stores, free of any framework."""
