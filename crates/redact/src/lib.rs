//! Streaming redaction of secrets in text artifacts.
