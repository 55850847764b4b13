"""collect: what the collector does to an event before it is on the stream (schema, registry, references,
fingerprint, COPY line, the append script, Segment mapping, counters). May import: the core only."""
