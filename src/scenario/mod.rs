//! The scenario file: model, loading and validation, templates.

pub mod duration;
pub mod model;

pub use model::*;
