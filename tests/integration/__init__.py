"""The console script, the simulator, fault proxies, Prometheus, Alertmanager and Chromium together."""
