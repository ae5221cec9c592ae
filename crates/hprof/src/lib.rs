//! Streaming HPROF heap-dump parser: class histogram, object graph and dominators.
