//! The engine: turns a run plan into load. Executors (closed: ramping VUs;
//! open: arrival rate) drive VUs through the `VuDriver` seam; each VU
//! interprets its behaviour's steps against any Rocket.Chat target. The
//! engine never imports `server/`.

pub mod arrivals;
pub mod clock;
pub mod closed;
pub mod executor;
pub mod open;
pub mod profile;
pub mod think;
