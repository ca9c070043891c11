//! The scenario file: model, loading and validation, templates.
//!
//! `load` reads a file, substitutes `${VAR}` (interpolate.rs), parses YAML
//! into a positioned tree (yaml.rs), deserializes the model with strict keys
//! (de.rs, model.rs, fault.rs) and validates it (validate/). Templates
//! (template.rs) are compiled by whoever renders them.

pub mod de;
pub mod describe;
pub mod duration;
pub mod error;
pub mod fault;
pub mod interpolate;
mod load;
pub mod model;
pub mod recorded;
pub mod slo;
pub mod template;
pub mod validate;
pub mod yaml;

pub use describe::describe_load;
pub use error::{Problem, ScenarioError, Severity};
pub use load::{
    Loaded, is_secret_name, load, load_str, load_str_with_warnings, load_with_warnings,
};
pub use model::*;
pub use slo::{Slo, SloStat};
pub use template::{RenderCtx, Template, TemplateError};
