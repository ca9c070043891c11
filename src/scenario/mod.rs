//! The scenario file: model, loading and validation, templates.

pub mod de;
pub mod duration;
pub mod error;
pub mod interpolate;
pub mod model;
pub mod template;
pub mod yaml;

pub use error::{Problem, ScenarioError, Severity};
pub use model::*;
pub use template::{RenderCtx, Template, TemplateError};
