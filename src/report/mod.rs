//! What `rocketload report` adds to the HTML page beyond the runs
//! themselves: the comparison of several runs (compare's library, the
//! first run as the base) and the charts of a capacity search or a
//! scaling experiment. The page and its run charts are the HTML exporter
//! (`results::export::html`); this module only brings in what lives
//! above `results` (compare, capacity).

pub mod comparison;
pub mod experiment;

pub use experiment::{Experiment, ExperimentError, experiment_file};
