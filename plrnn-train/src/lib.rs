//! plrnn-train: learn dendritic PLRNN generative models from time series by variational
//! inference (or by BPTT with teacher forcing, [`bptt`]), evaluate them with the field's metrics,
//! and export them for `plrnn-nostd`.
#![deny(missing_docs)]

pub mod bptt;
pub mod cli;
pub mod core;
pub mod data;
pub mod embed;
pub mod fit;
pub mod io;
pub mod linalg;
pub mod metrics;
pub mod model;
pub mod optim;
pub mod plot;
pub mod ranges;
pub mod realtime;
pub mod schedule;
pub mod series;
pub mod simulate;
pub mod sweep;
pub mod train_config;
pub mod train_loop;
pub mod vi;
pub use series::TimeSeries;
