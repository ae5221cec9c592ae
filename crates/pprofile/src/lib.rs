//! profile.proto (pprof) decoding, top functions and folded stacks.
