"""A small tank-level agent the embedding examples share (service and batch job)."""
