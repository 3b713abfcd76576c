//! The training loop: random sequences in mini-batches, parallel per-sequence gradients summed
//! in a fixed order, RAdam with gradient-norm clipping and exponential learning-rate decay,
//! evaluator hook with best-model keeping.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use rand::RngExt;
use rand_xoshiro::rand_core::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::config::{BpttConfig, ValidBpttConfig};
use super::model::{self, Forcing, Layout, Workspace};
use crate::optim::{clip_grad_norm, project_a, RAdam};
use crate::schedule::EvalPacer;
use crate::TimeSeries;

/// Why training could not start.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum BpttError {
    /// No trial was given.
    #[error("no training data: the list of trials is empty")]
    NoData,
    /// Trials differ in channel count.
    #[error("trial {trial} has {got} channels, trial 0 has {expected}")]
    ChannelMismatch {
        /// Offending trial.
        trial: usize,
        /// Its channel count.
        got: usize,
        /// Channel count of trial 0.
        expected: usize,
    },
    /// A value in the data is NaN or infinite.
    #[error("trial {trial} has a non-finite value at step {step}")]
    NonFinite {
        /// Offending trial.
        trial: usize,
        /// Offending time step.
        step: usize,
    },
    /// The trials have no channels.
    #[error("the trials have 0 channels; at least one observed channel is needed")]
    NoChannels,
    /// The latent dimension cannot hold the observations (identity observation B = [I 0]).
    #[error("latent_dim {latent_dim} is smaller than the {channels} observed channels")]
    LatentTooSmall {
        /// Configured M.
        latent_dim: usize,
        /// Observed N.
        channels: usize,
    },
    /// No trial has seq_len + 1 steps.
    #[error("seq_len {seq_len} needs trials of at least {} steps; the longest has {longest}", seq_len + 1)]
    TooShort {
        /// Configured T.
        seq_len: usize,
        /// Longest trial.
        longest: usize,
    },
    /// A checkpoint could not be written or read.
    #[error("checkpoint {path}: {reason}")]
    Checkpoint {
        /// The file.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// A checkpoint does not fit this configuration or data.
    #[error("checkpoint does not match: {field} is {checkpoint} in the checkpoint, {current} now")]
    CheckpointMismatch {
        /// The setting or size that differs.
        field: &'static str,
        /// Value in the checkpoint.
        checkpoint: String,
        /// Value now.
        current: String,
    },
    /// The worker pool could not be built.
    #[error("cannot build a pool of {threads} threads: {reason}")]
    Pool {
        /// Requested threads.
        threads: usize,
        /// The pool's error.
        reason: String,
    },
}

/// The evaluator hook: scores a model (lower is better), `None` = no score this time.
pub type Evaluator<'a> = &'a mut dyn FnMut(&plrnn_nostd::ModelBuf) -> Option<f64>;

/// The progress hook: (epochs done, mean loss of the epoch).
pub type ProgressFn<'a> = &'a mut dyn FnMut(usize, f64);

/// The best model by the evaluator's score (lower is better).
#[derive(Clone, Debug, PartialEq)]
pub struct BestBptt {
    /// The model.
    pub model: plrnn_nostd::ModelBuf,
    /// Epochs completed when it was evaluated.
    pub epoch: usize,
    /// Its score.
    pub score: f64,
}

/// The result of [`train`].
#[derive(Clone, Debug, PartialEq)]
pub struct BpttOutcome {
    /// The model after the last update (the last finite parameters if training diverged).
    pub model: plrnn_nostd::ModelBuf,
    /// The best evaluated model, if an evaluator was given and returned a score.
    pub best: Option<BestBptt>,
    /// Completed epochs.
    pub epochs_done: usize,
    /// Parameter updates done.
    pub updates: usize,
    /// Training time in seconds: the updates and the held-out evaluations during training
    /// (what the time budget bounds); the final evaluation is excluded.
    pub train_secs: f64,
    /// Seconds spent in held-out evaluations, the final one included.
    pub eval_secs: f64,
    /// Scheduled held-out evaluations skipped to keep them within their share of the budget
    /// ([`crate::schedule::EvalPacer`]).
    pub evals_skipped: usize,
    /// Mean loss of the last epoch.
    pub last_loss: f64,
    /// Whether training stopped because the loss became non-finite.
    pub diverged: bool,
    /// Whether the stop flag ended training (a checkpoint was written if a path was given;
    /// one is also written when the time budget ends the run).
    pub stopped: bool,
}

/// The model in the `plrnn-nostd` layout: B = [I_N 0], K = 0, data statistics identity
/// (the trials are taken in model units), σ_z = σ_x = `sigma` for every unit.
pub fn to_model_buf(layout: &Layout, params: &[f64], sigma: f64) -> plrnn_nostd::ModelBuf {
    let d = &layout.core;
    let (m, n, p) = (d.m, layout.n, d.p);
    let f = |r: &std::ops::Range<usize>| {
        params[r.clone()]
            .iter()
            .map(|&v| v as f32)
            .collect::<Vec<_>>()
    };
    let mut b = vec![0.0f32; n * m];
    for i in 0..n {
        b[i * m + i] = 1.0;
    }
    let sigma = (sigma as f32).max(1e-4);
    let sigma = if sigma.is_finite() { sigma } else { 1.0 };
    let mut w = f(&d.w);
    for i in 0..m {
        w[i * m + i] = 0.0;
    }
    plrnn_nostd::ModelBuf {
        variant: d.variant,
        dims: plrnn_nostd::Dims { m, n, p, k: 0 },
        normalized: false,
        a: f(&d.a),
        w,
        h: f(&d.h),
        alpha: f(&d.alpha),
        theta: f(&d.theta),
        c: Vec::new(),
        b,
        sigma_z: vec![sigma; m],
        sigma_x: vec![sigma; n],
        data_mean: vec![0.0; n],
        data_std: vec![1.0; n],
    }
}

/// What a training run reports to and takes from its caller; every field is optional.
#[derive(Default)]
pub struct BpttHooks<'a> {
    /// Scores a model (lower is better) after every `eval_every` epochs and at the end.
    pub evaluator: Option<Evaluator<'a>>,
    /// Called after every epoch with (epochs done, mean loss of the epoch).
    pub progress: Option<ProgressFn<'a>>,
    /// Once set (e.g. by Ctrl-C), training checkpoints after the current update and returns.
    pub stop: Option<&'a AtomicBool>,
    /// Where checkpoints go (every `checkpoint_every` epochs and when stopped); `None` = none.
    pub checkpoint: Option<&'a Path>,
}

/// The best model of a run as a checkpoint stores it: the parameters it was exported from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BestState {
    /// Flat parameters (see [`Layout`]).
    pub params: Vec<f64>,
    /// The noise scale it was exported with.
    pub sigma: f64,
    /// Epochs completed when it was evaluated.
    pub epoch: usize,
    /// Its score.
    pub score: f64,
}

/// Everything needed to continue a BPTT run so that it ends with exactly the bits of an
/// uninterrupted one (without a time budget): parameters, optimiser and random-generator state,
/// and the position inside the current epoch. Written as JSON with round-trip floats.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BpttCheckpoint {
    /// Always `"bptt"`, so a VI checkpoint is told apart.
    pub method: String,
    /// Format version of this struct.
    pub format: u32,
    /// The configuration of the run.
    pub config: BpttConfig,
    /// Observed channels N.
    pub n: usize,
    /// Flat parameters.
    pub params: Vec<f64>,
    /// The parameters before the last update (restored if the next one diverges).
    pub good: Vec<f64>,
    /// Optimiser state.
    pub opt: RAdam,
    /// The generator that picks sequence positions.
    pub rng: Xoshiro256PlusPlus,
    /// The epoch in progress (or the next one).
    pub epoch: usize,
    /// Sequences still to draw in that epoch; `None` = the epoch has not started.
    pub left: Option<usize>,
    /// Sum of the batch losses of that epoch so far.
    pub epoch_loss: f64,
    /// Sequences of that epoch so far.
    pub epoch_seqs: usize,
    /// Training seconds so far (updates and held-out evaluations).
    pub train_secs: f64,
    /// Parameter updates so far.
    pub updates: usize,
    /// Completed epochs.
    pub epochs_done: usize,
    /// Mean loss of the last completed epoch.
    pub last_loss: Option<f64>,
    /// The best evaluated model so far.
    pub best: Option<BestState>,
}

/// Current [`BpttCheckpoint::format`].
pub const BPTT_CHECKPOINT_FORMAT: u32 = 1;

impl BpttCheckpoint {
    /// Writes the checkpoint atomically (temp file, sync, rename).
    pub fn save(&self, path: &Path) -> Result<(), BpttError> {
        crate::io::write_json_atomic(path, self).map_err(|reason| BpttError::Checkpoint {
            path: path.display().to_string(),
            reason,
        })
    }

    /// Reads a checkpoint written by [`BpttCheckpoint::save`].
    pub fn load(path: &Path) -> Result<Self, BpttError> {
        let err = |reason: String| BpttError::Checkpoint {
            path: path.display().to_string(),
            reason,
        };
        let value: serde_json::Value = crate::io::read_json(path).map_err(err)?;
        if value.get("method").and_then(|m| m.as_str()) != Some("bptt") {
            return Err(err(
                "not a BPTT checkpoint (written by `plrnn train --method vi`?)".into(),
            ));
        }
        let c: Self = serde_json::from_value(value).map_err(|e| err(e.to_string()))?;
        if c.format != BPTT_CHECKPOINT_FORMAT {
            return Err(err(format!(
                "format {} is not the supported {BPTT_CHECKPOINT_FORMAT}",
                c.format
            )));
        }
        Ok(c)
    }
}

/// Trains a PLRNN by BPTT with (generalised and/or sparse) teacher forcing.
///
/// `trials` are taken as they are (z-score them first, e.g. with `data::Dataset`); the model
/// observes the first N latents (B = [I_N 0]). Every epoch draws Σ ⌊(len − 1)/T⌋ sequences of
/// T + 1 steps at random positions, in batches of `batch_size`; each batch is one RAdam update
/// of the mean gradient (per-sequence gradients computed in parallel, summed in sequence order,
/// so the result is bit-identical for any thread count). After every `eval_every` epochs and at
/// the end, `evaluator` scores the current model (lower is better; `None` = no score) and the
/// best one is kept. `progress` gets (epochs done, mean loss of the epoch). `stop` ends training
/// after the current update. σ_z and σ_x of the returned models are the RMS training residual
/// of the observed latents under teacher forcing (the square root of the epoch's loss).
/// [`train_with`] adds checkpoints and [`resume`] continues from one.
///
/// Reproducibility: without a time budget (and without `stop`), the same data, config and seed
/// give the same bits for any thread count. With `time_budget_secs`, the learning-rate and α
/// schedules follow the elapsed training time and the run ends at a time, so the result
/// depends on the machine's speed.
pub fn train<'a>(
    trials: &[TimeSeries],
    cfg: &ValidBpttConfig,
    evaluator: Option<Evaluator<'a>>,
    progress: Option<ProgressFn<'a>>,
    stop: Option<&'a AtomicBool>,
) -> Result<BpttOutcome, BpttError> {
    train_with(
        trials,
        cfg,
        BpttHooks {
            evaluator,
            progress,
            stop,
            checkpoint: None,
        },
    )
}

/// [`train`] with every hook, checkpoints included.
pub fn train_with(
    trials: &[TimeSeries],
    cfg: &ValidBpttConfig,
    hooks: BpttHooks<'_>,
) -> Result<BpttOutcome, BpttError> {
    let d = check_trials(trials, cfg)?;
    let layout = d.layout(cfg);
    let params = model::init(&layout, cfg.seed);
    let st = BpttCheckpoint {
        method: "bptt".into(),
        format: BPTT_CHECKPOINT_FORMAT,
        config: cfg.get().clone(),
        n: d.n,
        good: params.clone(),
        opt: RAdam::new(layout.len()),
        params,
        rng: Xoshiro256PlusPlus::seed_from_u64(cfg.seed ^ 0x5EC5_0000_0000_0002),
        epoch: 0,
        left: None,
        epoch_loss: 0.0,
        epoch_seqs: 0,
        train_secs: 0.0,
        updates: 0,
        epochs_done: 0,
        last_loss: None,
        best: None,
    };
    run(trials, cfg, &d, st, hooks)
}

/// Continues a run from a checkpoint. `cfg` may differ from the checkpoint's configuration only
/// in settings that do not shape the model, the data or the schedule of random draws (epochs,
/// time budget, threads, evaluation and checkpoint intervals); `epochs` also sets the
/// learning-rate horizon. A run resumed with the same `cfg` ends with exactly the bits of an
/// uninterrupted one (without a time budget).
pub fn resume(
    trials: &[TimeSeries],
    cfg: &ValidBpttConfig,
    checkpoint: BpttCheckpoint,
    hooks: BpttHooks<'_>,
) -> Result<BpttOutcome, BpttError> {
    let d = check_trials(trials, cfg)?;
    let (c, now) = (&checkpoint.config, cfg.get());
    let diff = crate::io::first_difference!(c, now;
        latent_dim,
        bases,
        variant,
        seq_len,
        batch_size,
        learning_rate,
        lr_final_ratio,
        grad_clip,
        tf_alpha,
        tf_alpha_final,
        tf_interval,
        a_max,
        seed
    );
    if let Some((field, checkpoint, current)) = diff {
        return Err(BpttError::CheckpointMismatch {
            field,
            checkpoint,
            current,
        });
    }
    let len = d.layout(cfg).len();
    let sizes = [
        ("n", checkpoint.n, d.n),
        ("params.len", checkpoint.params.len(), len),
        ("good.len", checkpoint.good.len(), len),
        ("opt.len", checkpoint.opt.len(), len),
    ];
    for (field, was, is) in sizes {
        if was != is {
            return Err(BpttError::CheckpointMismatch {
                field,
                checkpoint: was.to_string(),
                current: is.to_string(),
            });
        }
    }
    if let Some(b) = &checkpoint.best {
        if b.params.len() != len {
            return Err(BpttError::CheckpointMismatch {
                field: "best.params.len",
                checkpoint: b.params.len().to_string(),
                current: len.to_string(),
            });
        }
    }
    let mut st = checkpoint;
    st.config = now.clone();
    run(trials, cfg, &d, st, hooks)
}

/// Facts about the trials that the loop needs.
struct TrialFacts {
    n: usize,
    /// (trial, number of valid start positions).
    starts: Vec<(usize, usize)>,
    total_starts: usize,
    seqs_per_epoch: usize,
}

impl TrialFacts {
    fn layout(&self, cfg: &ValidBpttConfig) -> Layout {
        Layout::new(cfg.variant, cfg.latent_dim, self.n, cfg.effective_bases())
    }
}

fn check_trials(trials: &[TimeSeries], cfg: &ValidBpttConfig) -> Result<TrialFacts, BpttError> {
    let first = trials.first().ok_or(BpttError::NoData)?;
    let n = first.dims();
    for (ti, tr) in trials.iter().enumerate() {
        if tr.dims() != n {
            return Err(BpttError::ChannelMismatch {
                trial: ti,
                got: tr.dims(),
                expected: n,
            });
        }
        if let Some(pos) = tr.as_slice().iter().position(|v| !v.is_finite()) {
            return Err(BpttError::NonFinite {
                trial: ti,
                step: pos / n.max(1),
            });
        }
    }
    if n == 0 {
        return Err(BpttError::NoChannels);
    }
    if cfg.latent_dim < n {
        return Err(BpttError::LatentTooSmall {
            latent_dim: cfg.latent_dim,
            channels: n,
        });
    }
    let t_len = cfg.seq_len;
    let longest = trials.iter().map(|t| t.len()).max().unwrap_or(0);
    if longest < t_len + 1 {
        return Err(BpttError::TooShort {
            seq_len: t_len,
            longest,
        });
    }
    // Valid start positions: trial i offers len_i − T starts.
    let starts: Vec<(usize, usize)> = trials
        .iter()
        .enumerate()
        .filter(|(_, t)| t.len() > t_len)
        .map(|(i, t)| (i, t.len() - t_len))
        .collect();
    let total_starts = starts.iter().map(|s| s.1).sum();
    let seqs_per_epoch = trials
        .iter()
        .map(|t| t.len().saturating_sub(1) / t_len)
        .sum::<usize>()
        .max(1);
    Ok(TrialFacts {
        n,
        starts,
        total_starts,
        seqs_per_epoch,
    })
}

/// The training loop from any state (fresh or resumed).
fn run(
    trials: &[TimeSeries],
    cfg: &ValidBpttConfig,
    d: &TrialFacts,
    mut st: BpttCheckpoint,
    mut hooks: BpttHooks<'_>,
) -> Result<BpttOutcome, BpttError> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(cfg.threads)
        .build()
        .map_err(|e| BpttError::Pool {
            threads: cfg.threads,
            reason: e.to_string(),
        })?;
    let layout = d.layout(cfg);
    let (n, t_len) = (d.n, cfg.seq_len);
    let mut grad = vec![0.0; layout.len()];
    let mut diverged = false;
    let mut stopped = false;
    let mut interrupted = false;

    let progress_frac = |epoch: usize, secs: f64| -> f64 {
        let e = epoch as f64 / cfg.epochs as f64;
        match cfg.time_budget_secs {
            Some(b) => e.max(secs / b),
            None => e,
        }
    };

    let mut evaluate = |params: &[f64], loss: f64, epoch: usize, best: &mut Option<BestState>| {
        if let Some(ev) = hooks.evaluator.as_mut() {
            let sigma = loss.sqrt();
            let buf = to_model_buf(&layout, params, sigma);
            if let Some(score) = ev(&buf) {
                if best.as_ref().is_none_or(|b| score < b.score) && !score.is_nan() {
                    *best = Some(BestState {
                        params: params.to_vec(),
                        sigma,
                        epoch,
                        score,
                    });
                }
            }
        }
    };
    let mut pacer = EvalPacer::new(cfg.time_budget_secs.is_some());
    let checkpoint = |st: &BpttCheckpoint| match hooks.checkpoint {
        Some(path) => st.save(path),
        None => Ok(()),
    };

    while st.epoch < cfg.epochs {
        let epoch = st.epoch;
        if st.left.is_none() {
            st.left = Some(d.seqs_per_epoch);
            st.epoch_loss = 0.0;
            st.epoch_seqs = 0;
        }
        while let Some(left) = st.left.filter(|&l| l > 0) {
            let bs = left.min(cfg.batch_size);
            let t0 = Instant::now();
            let frac = progress_frac(epoch, st.train_secs);
            let forcing = Forcing {
                alpha: cfg.alpha_at(frac),
                interval: cfg.tf_interval,
            };
            let picks: Vec<(usize, usize)> = (0..bs)
                .map(|_| {
                    let mut r = st.rng.random_range(0..d.total_starts);
                    let mut pick = (0, 0);
                    for &(ti, cnt) in &d.starts {
                        if r < cnt {
                            pick = (ti, r);
                            break;
                        }
                        r -= cnt;
                    }
                    pick
                })
                .collect();
            let params = &st.params;
            let per_seq: Vec<(f64, Vec<f64>)> = pool.install(|| {
                picks
                    .par_iter()
                    .map_init(Workspace::default, |ws, &(ti, s)| {
                        let x = &trials[ti].as_slice()[s * n..(s + t_len + 1) * n];
                        let mut g = vec![0.0; layout.len()];
                        let l = model::loss_grad(&layout, params, x, forcing, ws, &mut g);
                        (l, g)
                    })
                    .collect()
            });
            grad.fill(0.0);
            let mut batch_loss = 0.0;
            for (l, g) in &per_seq {
                batch_loss += l;
                for (a, b) in grad.iter_mut().zip(g) {
                    *a += b;
                }
            }
            let inv = 1.0 / bs as f64;
            grad.iter_mut().for_each(|g| *g *= inv);
            if !batch_loss.is_finite() || grad.iter().any(|g| !g.is_finite()) {
                diverged = true;
                st.params.copy_from_slice(&st.good);
                st.train_secs += t0.elapsed().as_secs_f64();
                break;
            }
            clip_grad_norm(&mut grad, cfg.grad_clip);
            st.good.copy_from_slice(&st.params);
            st.opt.step(&mut st.params, &grad, cfg.lr_at(frac));
            project_a(&mut st.params[layout.core.a.clone()], cfg.a_max);
            st.updates += 1;
            st.epoch_loss += batch_loss;
            st.epoch_seqs += bs;
            st.left = Some(left - bs);
            st.train_secs += t0.elapsed().as_secs_f64();
            interrupted = hooks.stop.is_some_and(|s| s.load(Ordering::Relaxed));
            if interrupted || cfg.time_budget_secs.is_some_and(|b| st.train_secs >= b) {
                stopped = true;
                break;
            }
        }
        if diverged {
            break;
        }
        if stopped {
            // Saved before the partial epoch is booked, so a resumed run finishes this epoch
            // exactly as an uninterrupted run would.
            checkpoint(&st)?;
        }
        if st.epoch_seqs > 0 {
            st.last_loss = Some(st.epoch_loss / st.epoch_seqs as f64);
            st.epochs_done = epoch + 1;
        }
        if let Some(p) = hooks.progress.as_mut() {
            p(epoch + 1, st.last_loss.unwrap_or(f64::NAN));
        }
        if stopped {
            break;
        }
        if cfg.eval_every > 0
            && (epoch + 1).is_multiple_of(cfg.eval_every)
            && epoch + 1 < cfg.epochs
            && pacer.due(st.train_secs)
        {
            let loss = st.last_loss.unwrap_or(f64::NAN);
            // The held-out evaluation counts against the budget, so that --time-budget bounds
            // the run's wall time (with many channels an evaluation costs many updates).
            let t0 = Instant::now();
            evaluate(&st.params, loss, epoch + 1, &mut st.best);
            let secs = t0.elapsed().as_secs_f64();
            pacer.record(secs);
            st.train_secs += secs;
        }
        st.epoch += 1;
        st.left = None;
        if cfg.checkpoint_every > 0 && st.epoch.is_multiple_of(cfg.checkpoint_every) {
            checkpoint(&st)?;
        }
    }
    let last_loss = st.last_loss.unwrap_or(f64::NAN);
    let t0 = Instant::now();
    evaluate(&st.params, last_loss, st.epochs_done, &mut st.best);
    pacer.record(t0.elapsed().as_secs_f64());
    Ok(BpttOutcome {
        model: to_model_buf(&layout, &st.params, last_loss.sqrt()),
        best: st.best.as_ref().map(|b| BestBptt {
            model: to_model_buf(&layout, &b.params, b.sigma),
            epoch: b.epoch,
            score: b.score,
        }),
        epochs_done: st.epochs_done,
        updates: st.updates,
        train_secs: st.train_secs,
        eval_secs: pacer.eval_secs(),
        evals_skipped: pacer.skipped(),
        last_loss,
        diverged,
        stopped: interrupted,
    })
}
