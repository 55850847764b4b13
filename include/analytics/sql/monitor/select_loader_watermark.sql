SELECT max(watermark) FROM analytics.load_runs
