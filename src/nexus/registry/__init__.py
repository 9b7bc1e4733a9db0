"""The registry: producers, data products, schedules, the run ledger, retirement, orphans."""
