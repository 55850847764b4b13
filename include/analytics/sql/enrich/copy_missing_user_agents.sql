COPY (SELECT ua FROM enrich_ua WHERE missing) TO STDOUT (FORMAT csv)
