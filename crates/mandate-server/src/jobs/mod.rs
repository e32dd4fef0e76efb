//! Background jobs every replica runs. Each is safe to run on several replicas at once (plain
//! deletes of what is past its time).

pub mod cleanup;
