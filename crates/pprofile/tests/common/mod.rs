//! Shared test support.
pub mod goapp;
pub mod synth;
