//! The triage bundle: writer, reader, manifest and checksums.
