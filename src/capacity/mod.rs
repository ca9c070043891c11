//! Capacity analysis: USL fits of measured steps, and Rocket.Chat's published sizing.

pub mod sizing;
pub mod usl;
