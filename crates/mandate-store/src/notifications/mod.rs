//! Notification channels and their delivery queue.

pub mod channels;
pub mod deliveries;
