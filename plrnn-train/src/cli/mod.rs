//! The `plrnn` command line: human output with progress bars on stderr, machine output
//! (`--json`) on stdout. Exit status 0 on success, 2 for bad input (data, model files, options,
//! config), 1 for anything else.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod commands;
mod ranges;
mod run_cmd;
mod sweep_cmd;
mod train_cmd;

/// Learn generative models of dynamical systems from time series; evaluate them; run them.
#[derive(Debug, Parser)]
#[command(name = "plrnn", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Simulate a benchmark system (lorenz63, hindmarsh_rose, chua, …) into a .csv or .npy file.
    Simulate(commands::SimulateArgs),
    /// Train a model on time series by variational inference.
    Train(Box<crate::cli::commands::TrainArgs>),
    /// Closed-loop generation from a model file, through the plrnn-nostd kernel.
    Generate(commands::GenerateArgs),
    /// Generate from a model and compare with test data: D_stsp, D_H, PSC, PE(n), Lyapunov.
    Evaluate(commands::EvaluateArgs),
    /// Show a model file's variant, sizes, data statistics and stability.
    Inspect(commands::InspectArgs),
    /// Plot trajectories (true vs generated) into a PNG.
    Plot(commands::PlotArgs),
    /// Simulate Lorenz-63, train, evaluate and plot, with built-in defaults.
    Demo(commands::DemoArgs),
    /// Step a model in real time at a fixed rate, inputs arriving live (stdin, UDP).
    Run(run_cmd::RunArgs),
    /// Many runs from a sweep file, on this machine or as a Slurm job array; `status`, `collect`.
    Sweep(sweep_cmd::SweepArgs),
}

/// An error the user can fix by changing the input (exit status 2).
#[derive(Debug)]
pub struct InputError(pub anyhow::Error);

impl std::fmt::Display for InputError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl std::error::Error for InputError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

/// Marks an error as caused by the user's input.
pub(crate) fn input_err(e: impl Into<anyhow::Error>) -> anyhow::Error {
    anyhow::Error::new(InputError(e.into()))
}

/// Parses the command line and runs it; returns the process exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let is_input = e.chain().any(|c| {
                c.is::<InputError>()
                    || c.is::<crate::sweep::SweepError>()
                    || c.is::<crate::data::DataError>()
                    || c.is::<crate::model::ModelFileError>()
                    || c.is::<crate::simulate::SimError>()
            });
            eprintln!("error: {}", one_line(&e));
            ExitCode::from(if is_input { 2 } else { 1 })
        }
    }
}

/// The error chain on one line, without repeating a cause its context already quotes.
fn one_line(e: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for c in e.chain() {
        let s = c.to_string();
        if parts.last().is_some_and(|p| p.contains(&s)) {
            continue;
        }
        parts.push(s);
    }
    parts.join(": ").replace('\n', " ")
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Simulate(a) => commands::simulate(a),
        Command::Train(a) => commands::train(*a),
        Command::Generate(a) => commands::generate(a),
        Command::Evaluate(a) => commands::evaluate(a),
        Command::Inspect(a) => commands::inspect(a),
        Command::Plot(a) => commands::plot(a),
        Command::Demo(a) => commands::demo(a),
        Command::Run(a) => run_cmd::run(a),
        Command::Sweep(a) => sweep_cmd::sweep(a),
    }
}

/// Default output folder of `plrnn demo`.
pub fn default_demo_dir() -> PathBuf {
    PathBuf::from("plrnn-demo")
}
