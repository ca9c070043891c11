//! The reference Rocket.Chat-compatible server.
