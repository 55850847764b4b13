"""load: the stream → PostgreSQL stage (consumer-group reads, entries as COPY lines, rejections, partitions,
the watermark, the events_load task). May import: collect, the core."""
