//! What goes in and out: the JSON trace, the walkthroughs' text, plots, checkpoints, the data
//! sets, and the file writing and reading they share.
pub mod checkpoint;
pub mod dataset;
pub mod files;
pub mod graph_plot;
pub mod plot;
pub mod report;
pub mod trace;
