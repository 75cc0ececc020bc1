"""Benchmarks of smsgateway through its real interfaces: see bench/README.md."""
