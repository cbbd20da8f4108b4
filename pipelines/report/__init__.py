"""The corpus report: one self-contained HTML page over job outputs (funnel, labels, dedup, shards, training,
mixture), and ``docs show`` for one document's labels and lineage."""
