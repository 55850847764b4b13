-- Every event with received_at < watermark is loaded (the loader's promise).
SELECT max(watermark) FROM analytics.load_runs
