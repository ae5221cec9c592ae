pub mod hprof_walk;
pub mod jvm;
