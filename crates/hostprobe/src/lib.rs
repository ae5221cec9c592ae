//! Readers for /proc, /sys, cgroups (v1 and v2) and conntrack, rooted at any directory.

pub mod model;

pub use model::*;
