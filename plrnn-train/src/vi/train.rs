//! The training loop: mini-batches of sequences, gradients in parallel over the batch (summed
//! in a fixed order, so the result does not depend on the thread count), Adam with clipping,
//! progress, periodic evaluation with best-model keeping, checkpoints and resume.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use rand::RngExt;
use rand_xoshiro::rand_core::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;
use rayon::prelude::*;
use thiserror::Error;

use super::checkpoint::{BestModel, Checkpoint, CHECKPOINT_FORMAT};
use super::config::{InitialState, ValidConfig};
use super::elbo::{loss_grad, regulariser, LossSettings, SeqRef, Workspace};
use super::encoder::EncView;
use super::model::TrainedModel;
use super::normal::NormalSampler;
use super::params::{init_with, Layout, ObsStart};
use super::tf::{add_term, TfWorkspace};
use crate::optim::{clip_grad_norm, project_a, Adam};
use crate::schedule::EvalPacer;
use crate::TimeSeries;

/// Why training could not run or had to stop.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum TrainError {
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
    /// Inputs were given but do not match the trials.
    #[error("inputs of trial {trial}: {reason}")]
    InputMismatch {
        /// Offending trial.
        trial: usize,
        /// What is wrong.
        reason: String,
    },
    /// A value in the data is NaN or infinite.
    #[error("trial {trial} has a non-finite value at step {step}")]
    NonFinite {
        /// Offending trial.
        trial: usize,
        /// Offending time step.
        step: usize,
    },
    /// No trial is long enough to give a sequence.
    #[error("no trial has at least 2 steps (longest: {longest})")]
    TooShort {
        /// Longest trial length.
        longest: usize,
    },
    /// The loss or the parameters became non-finite.
    #[error("training diverged at epoch {epoch} (loss {loss})")]
    Diverged {
        /// Epoch of the failure.
        epoch: usize,
        /// The loss value.
        loss: f64,
    },
    /// A checkpoint does not fit this configuration or data.
    #[error("checkpoint does not match: {field} is {checkpoint} in the checkpoint, {current} now")]
    CheckpointMismatch {
        /// The differing setting.
        field: &'static str,
        /// Value in the checkpoint.
        checkpoint: String,
        /// Value now.
        current: String,
    },
    /// A checkpoint could not be written or read.
    #[error("checkpoint {path}: {reason}")]
    Checkpoint {
        /// File path.
        path: String,
        /// Cause.
        reason: String,
    },
}

/// Progress report after each epoch.
#[derive(Clone, Debug, PartialEq)]
pub struct Progress {
    /// Epochs completed.
    pub epoch: usize,
    /// Epochs planned.
    pub epochs: usize,
    /// Mean batch loss (negative ELBO per step, plus regulariser) over the epoch.
    pub loss: f64,
    /// Observation weight a used in this epoch.
    pub obs_weight: f64,
    /// Parameter updates done so far.
    pub updates: u64,
    /// Updates per second over this call of `train`/`resume`.
    pub updates_per_sec: f64,
    /// Seconds since this call of `train`/`resume` started.
    pub elapsed_secs: f64,
    /// Evaluator score, when the evaluator ran after this epoch.
    pub eval: Option<f64>,
}

/// Callbacks of the training loop. Every method has a do-nothing default.
pub trait TrainHooks {
    /// Called after every epoch.
    fn progress(&mut self, _p: &Progress) {}
    /// Called every `eval_every` epochs; lower is better; `None` means "not evaluated".
    fn evaluate(&mut self, _model: &TrainedModel) -> Option<f64> {
        None
    }
    /// A flag that, once set (e.g. by Ctrl-C), makes the loop checkpoint and return.
    fn stop_flag(&self) -> Option<&AtomicBool> {
        None
    }
    /// Where checkpoints go (periodic and on stop); `None` = no checkpoint files.
    fn checkpoint_path(&self) -> Option<&Path> {
        None
    }
}

/// Hooks that do nothing.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoHooks;
impl TrainHooks for NoHooks {}

/// A progress callback.
pub type ProgressFn<'a> = Box<dyn FnMut(&Progress) + 'a>;
/// An evaluator: lower is better, `None` = not evaluated.
pub type EvaluatorFn<'a> = Box<dyn FnMut(&TrainedModel) -> Option<f64> + 'a>;

/// Hooks built from closures and values.
#[derive(Default)]
pub struct Hooks<'a> {
    /// Progress callback.
    pub on_progress: Option<ProgressFn<'a>>,
    /// Evaluator (lower is better).
    pub evaluator: Option<EvaluatorFn<'a>>,
    /// Stop flag.
    pub stop: Option<Arc<AtomicBool>>,
    /// Checkpoint file.
    pub checkpoint_path: Option<PathBuf>,
}

impl TrainHooks for Hooks<'_> {
    fn progress(&mut self, p: &Progress) {
        if let Some(f) = &mut self.on_progress {
            f(p)
        }
    }
    fn evaluate(&mut self, model: &TrainedModel) -> Option<f64> {
        self.evaluator.as_mut().and_then(|f| f(model))
    }
    fn stop_flag(&self) -> Option<&AtomicBool> {
        self.stop.as_deref()
    }
    fn checkpoint_path(&self) -> Option<&Path> {
        self.checkpoint_path.as_deref()
    }
}

/// What a training run produced.
#[derive(Clone, Debug)]
pub struct TrainOutcome {
    /// The model at the end of the run.
    pub model: TrainedModel,
    /// The best model by the evaluator, if it ever returned a score.
    pub best: Option<BestModel>,
    /// Epochs completed.
    pub epochs_done: usize,
    /// Parameter updates done.
    pub updates: u64,
    /// True when the run ended because the stop flag was set.
    pub stopped: bool,
    /// True when the run ended because the time budget ran out.
    pub out_of_time: bool,
    /// Seconds spent in held-out evaluations.
    pub eval_secs: f64,
    /// Scheduled held-out evaluations skipped to keep them within their share of the budget
    /// ([`crate::schedule::EvalPacer`]).
    pub evals_skipped: usize,
    /// The final state (the same content a checkpoint file would have).
    pub checkpoint: Checkpoint,
}

/// A training sequence: a window of one trial.
#[derive(Clone, Copy, Debug)]
struct Piece {
    trial: usize,
    start: usize,
    len: usize,
}

/// SplitMix64 finaliser: the trainer's only source of seeds (see the checkpoint module).
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

fn seed_for(seed: u64, stream: u64, epoch: usize, item: usize) -> u64 {
    mix(mix(mix(seed ^ stream.wrapping_mul(0xA24B_AED4_963E_E407)) ^ epoch as u64) ^ item as u64)
}

fn check_data(trials: &[TimeSeries], inputs: &[TimeSeries]) -> Result<(usize, usize), TrainError> {
    let first = trials.first().ok_or(TrainError::NoData)?;
    let n = first.dims();
    for (i, tr) in trials.iter().enumerate() {
        if tr.dims() != n {
            return Err(TrainError::ChannelMismatch {
                trial: i,
                got: tr.dims(),
                expected: n,
            });
        }
        if let Some(pos) = tr.as_slice().iter().position(|v| !v.is_finite()) {
            return Err(TrainError::NonFinite {
                trial: i,
                step: pos / n,
            });
        }
    }
    let k = if inputs.is_empty() {
        0
    } else {
        if inputs.len() != trials.len() {
            return Err(TrainError::InputMismatch {
                trial: inputs.len().min(trials.len()),
                reason: format!("{} input series for {} trials", inputs.len(), trials.len()),
            });
        }
        let k = inputs[0].dims();
        for (i, (s, x)) in inputs.iter().zip(trials).enumerate() {
            if s.dims() != k || s.len() != x.len() {
                return Err(TrainError::InputMismatch {
                    trial: i,
                    reason: format!(
                        "{}×{} inputs for {} steps (expected {k} channels)",
                        s.len(),
                        s.dims(),
                        x.len()
                    ),
                });
            }
            if s.as_slice().iter().any(|v| !v.is_finite()) {
                return Err(TrainError::InputMismatch {
                    trial: i,
                    reason: "non-finite input".into(),
                });
            }
        }
        k
    };
    Ok((n, k))
}

fn cut(trials: &[TimeSeries], seq_len: usize) -> Result<Vec<Piece>, TrainError> {
    let mut pieces = Vec::new();
    for (i, tr) in trials.iter().enumerate() {
        let len = tr.len();
        if len >= seq_len {
            for s in 0..len / seq_len {
                pieces.push(Piece {
                    trial: i,
                    start: s * seq_len,
                    len: seq_len,
                });
            }
        } else if len >= 2 {
            pieces.push(Piece {
                trial: i,
                start: 0,
                len,
            });
        }
    }
    if pieces.is_empty() {
        return Err(TrainError::TooShort {
            longest: trials.iter().map(TimeSeries::len).max().unwrap_or(0),
        });
    }
    Ok(pieces)
}

/// Trains a model on `trials` (each T_i × N, already normalised as the caller wants) without
/// external inputs.
pub fn train(
    trials: &[TimeSeries],
    cfg: &ValidConfig,
    hooks: &mut dyn TrainHooks,
) -> Result<TrainOutcome, TrainError> {
    train_with_inputs(trials, &[], cfg, hooks)
}

/// Trains with external inputs: `inputs[i]` (T_i × K) drives trial `i` (empty slice: K = 0).
pub fn train_with_inputs(
    trials: &[TimeSeries],
    inputs: &[TimeSeries],
    cfg: &ValidConfig,
    hooks: &mut dyn TrainHooks,
) -> Result<TrainOutcome, TrainError> {
    let (n, k) = check_data(trials, inputs)?;
    let pieces = cut(trials, cfg.seq_len)?;
    let layout = Layout::new(cfg, n, k, pieces.len());
    // More channels than latents: the observation model starts from the principal components.
    let pcs = (n > layout.core.m).then(|| crate::linalg::principal_components(trials));
    let mut params = init_with(
        &layout,
        cfg.seed,
        cfg.sigma_z_init,
        cfg.sigma_z_min,
        cfg.encoder_sigma_init,
        pcs.as_ref()
            .map(|(variances, axes)| ObsStart { variances, axes }),
    );
    // Each learned initial state starts at the encoder mean of its sequence's first step.
    if cfg.initial_state == InitialState::PerSequence {
        let enc = EncView::from_flat(&layout, &params);
        let mut z0s = Vec::with_capacity(pieces.len() * layout.core.m);
        for pc in &pieces {
            let x = &trials[pc.trial].as_slice()[pc.start * n..(pc.start + pc.len) * n];
            let (mut mu, mut ls) = (
                vec![0.0; pc.len * layout.core.m],
                vec![0.0; pc.len * layout.core.m],
            );
            let (mut u, mut act) = (vec![0.0; pc.len * n], vec![0.0; pc.len * layout.hidden]);
            enc.forward(x, &mut mu, &mut ls, &mut u, &mut act);
            z0s.extend_from_slice(&mu[..layout.core.m]);
        }
        params[layout.z0.clone()].copy_from_slice(&z0s);
    }
    let state = Checkpoint {
        format: CHECKPOINT_FORMAT,
        config: cfg.get().clone(),
        n,
        k,
        n_seq: pieces.len(),
        adam: Adam::new(layout.len, cfg.learning_rate),
        params,
        epoch: 0,
        batch: 0,
        updates: 0,
        epoch_loss_sum: 0.0,
        best: None,
    };
    run(trials, inputs, cfg, &layout, &pieces, state, hooks)
}

/// Continues a run from a checkpoint. `cfg` may differ from the checkpoint's configuration only
/// in settings that do not shape the model or the data cut (epochs, time budget, evaluation and
/// checkpoint intervals, threads); `epochs` also sets the learning-rate decay horizon.
pub fn resume(
    trials: &[TimeSeries],
    inputs: &[TimeSeries],
    cfg: &ValidConfig,
    checkpoint: Checkpoint,
    hooks: &mut dyn TrainHooks,
) -> Result<TrainOutcome, TrainError> {
    let (n, k) = check_data(trials, inputs)?;
    let pieces = cut(trials, cfg.seq_len)?;
    let c = &checkpoint.config;
    let now = cfg.get();
    let diff = crate::io::first_difference!(c, now;
        latent_dim,
        bases,
        variant,
        encoder,
        encoder_hidden,
        encoder_window,
        initial_state,
        seq_len,
        batch_size,
        seed,
        obs_weight,
        annealing,
        anneal_start,
        anneal_epochs,
        reg_lambda,
        reg_share,
        sigma_z_min,
        grad_clip,
        sigma_z_init,
        encoder_sigma_init,
        freeze_sigma_z_epochs,
        lr_final_ratio,
        objective,
        tf_weight,
        tf_alpha,
        tf_interval,
        tf_window,
        a_max
    );
    if let Some((field, checkpoint, current)) = diff {
        return Err(TrainError::CheckpointMismatch {
            field,
            checkpoint,
            current,
        });
    }
    let dims = [
        ("n", checkpoint.n, n),
        ("k", checkpoint.k, k),
        ("n_seq", checkpoint.n_seq, pieces.len()),
    ];
    for (field, was, is) in dims {
        if was != is {
            return Err(TrainError::CheckpointMismatch {
                field,
                checkpoint: was.to_string(),
                current: is.to_string(),
            });
        }
    }
    let layout = Layout::new(cfg, n, k, pieces.len());
    if checkpoint.params.len() != layout.len || checkpoint.adam.m.len() != layout.len {
        return Err(TrainError::CheckpointMismatch {
            field: "params.len",
            checkpoint: checkpoint.params.len().to_string(),
            current: layout.len.to_string(),
        });
    }
    run(trials, inputs, cfg, &layout, &pieces, checkpoint, hooks)
}

struct Slot {
    ws: Workspace,
    tf: TfWorkspace,
    eps: Vec<f64>,
    grad: Vec<f64>,
    loss: f64,
}

#[allow(clippy::too_many_arguments)]
fn run(
    trials: &[TimeSeries],
    inputs: &[TimeSeries],
    cfg: &ValidConfig,
    layout: &Layout,
    pieces: &[Piece],
    mut st: Checkpoint,
    hooks: &mut dyn TrainHooks,
) -> Result<TrainOutcome, TrainError> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(cfg.threads)
        .build()
        .expect("building the rayon pool");
    let (n, k, m) = (layout.n, layout.core.k, layout.core.m);
    let bs = cfg.batch_size.min(pieces.len());
    let n_batches = pieces.len().div_ceil(bs);
    let mut slots: Vec<Slot> = (0..bs)
        .map(|_| Slot {
            ws: Workspace::default(),
            tf: TfWorkspace::default(),
            eps: Vec::new(),
            grad: vec![0.0; layout.len],
            loss: 0.0,
        })
        .collect();
    let mut total = vec![0.0; layout.len];
    let start = Instant::now();
    let updates_at_start = st.updates;
    let mut stopped = false;
    let mut out_of_time = false;
    let mut evaluated_at = u64::MAX;
    let mut pacer = EvalPacer::new(cfg.time_budget_secs.is_some());
    let save = |st: &Checkpoint, hooks: &dyn TrainHooks| -> Result<(), TrainError> {
        match hooks.checkpoint_path() {
            Some(p) => st.save(p),
            None => Ok(()),
        }
    };
    'epochs: while st.epoch < cfg.epochs {
        let a_obs = cfg.obs_weight_at(st.epoch);
        st.adam.lr = cfg.learning_rate_at(st.epoch, start.elapsed().as_secs_f64());
        let set = LossSettings {
            obs_weight: a_obs,
            sigma_z_min: cfg.sigma_z_min,
            initial_state: cfg.initial_state,
        };
        // The epoch's sequence order: a Fisher–Yates shuffle seeded by (seed, epoch).
        let mut order: Vec<usize> = (0..pieces.len()).collect();
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed_for(cfg.seed, 1, st.epoch, 0));
        for i in (1..order.len()).rev() {
            let j = rng.random_range(0..=i);
            order.swap(i, j);
        }
        while st.batch < n_batches {
            let ids = &order[st.batch * bs..((st.batch + 1) * bs).min(order.len())];
            let params = &st.params;
            let epoch = st.epoch;
            pool.install(|| {
                slots[..ids.len()]
                    .par_iter_mut()
                    .zip(ids.par_iter())
                    .for_each(|(slot, &id)| {
                        let pc = pieces[id];
                        slot.eps.resize(pc.len * m, 0.0);
                        NormalSampler::seed_from_u64(seed_for(cfg.seed, 2, epoch, id))
                            .fill(&mut slot.eps);
                        let x = &trials[pc.trial].as_slice()[pc.start * n..(pc.start + pc.len) * n];
                        let s = if k == 0 {
                            &[][..]
                        } else {
                            &inputs[pc.trial].as_slice()[pc.start * k..(pc.start + pc.len) * k]
                        };
                        let seq = SeqRef { x, s, z0_index: id };
                        slot.loss = loss_grad(
                            layout,
                            params,
                            seq,
                            &slot.eps,
                            set,
                            &mut slot.ws,
                            &mut slot.grad,
                        );
                        slot.loss += add_term(
                            cfg,
                            layout,
                            params,
                            seq,
                            seed_for(cfg.seed, 3, epoch, id),
                            &mut slot.tf,
                            &mut slot.grad,
                        );
                    });
            });
            // Fixed-order sum: independent of which thread computed which slot.
            total.iter_mut().for_each(|g| *g = 0.0);
            let mut loss = 0.0;
            for slot in &slots[..ids.len()] {
                loss += slot.loss;
                for (t, g) in total.iter_mut().zip(&slot.grad) {
                    *t += g;
                }
            }
            let inv = 1.0 / ids.len() as f64;
            loss *= inv;
            total.iter_mut().for_each(|g| *g *= inv);
            loss += regulariser(
                layout,
                &st.params,
                cfg.reg_lambda,
                cfg.reg_share,
                &mut total,
            );
            if st.epoch < cfg.freeze_sigma_z_epochs {
                total[layout.log_sigma_z.clone()]
                    .iter_mut()
                    .for_each(|g| *g = 0.0);
            }
            if !loss.is_finite() || total.iter().any(|g| !g.is_finite()) {
                return Err(TrainError::Diverged {
                    epoch: st.epoch,
                    loss,
                });
            }
            clip_grad_norm(&mut total, cfg.grad_clip);
            st.adam.step(&mut st.params, &total);
            project_a(&mut st.params[layout.core.a.clone()], cfg.a_max);
            st.updates += 1;
            st.batch += 1;
            st.epoch_loss_sum += loss;
            if hooks.stop_flag().is_some_and(|f| f.load(Ordering::SeqCst)) {
                stopped = true;
                save(&st, hooks)?;
                break 'epochs;
            }
            if cfg
                .time_budget_secs
                .is_some_and(|b| start.elapsed().as_secs_f64() > b)
            {
                out_of_time = true;
                if st.batch == n_batches {
                    break;
                }
                break 'epochs;
            }
        }
        let loss = st.epoch_loss_sum / n_batches as f64;
        st.epoch += 1;
        st.batch = 0;
        st.epoch_loss_sum = 0.0;
        let mut eval = None;
        let last = st.epoch == cfg.epochs || out_of_time;
        if cfg.eval_every > 0
            && (last
                || st.epoch.is_multiple_of(cfg.eval_every)
                    && pacer.due(start.elapsed().as_secs_f64()))
        {
            let t_eval = Instant::now();
            let model = TrainedModel::from_flat(layout, &st.params, cfg.sigma_z_min);
            eval = hooks.evaluate(&model);
            pacer.record(t_eval.elapsed().as_secs_f64());
            evaluated_at = st.updates;
            if let Some(score) = eval {
                if st.best.as_ref().is_none_or(|b| score < b.score) {
                    st.best = Some(BestModel {
                        model,
                        score,
                        epoch: st.epoch,
                    });
                }
            }
        }
        let elapsed = start.elapsed().as_secs_f64();
        hooks.progress(&Progress {
            epoch: st.epoch,
            epochs: cfg.epochs,
            loss,
            obs_weight: a_obs,
            updates: st.updates,
            updates_per_sec: (st.updates - updates_at_start) as f64 / elapsed.max(1e-9),
            elapsed_secs: elapsed,
            eval,
        });
        if cfg.checkpoint_every > 0 && st.epoch.is_multiple_of(cfg.checkpoint_every) {
            save(&st, hooks)?;
        }
        if out_of_time {
            break;
        }
    }
    // A time budget can end a run mid-epoch: the last parameters still get evaluated, so the
    // best-model choice sees them.
    if out_of_time && cfg.eval_every > 0 && evaluated_at != st.updates {
        let t_eval = Instant::now();
        let model = TrainedModel::from_flat(layout, &st.params, cfg.sigma_z_min);
        let eval = hooks.evaluate(&model);
        pacer.record(t_eval.elapsed().as_secs_f64());
        if let Some(score) = eval {
            if st.best.as_ref().is_none_or(|b| score < b.score) {
                st.best = Some(BestModel {
                    model,
                    score,
                    epoch: st.epoch,
                });
            }
        }
    }
    Ok(TrainOutcome {
        model: TrainedModel::from_flat(layout, &st.params, cfg.sigma_z_min),
        best: st.best.clone(),
        epochs_done: st.epoch,
        updates: st.updates,
        stopped,
        out_of_time,
        eval_secs: pacer.eval_secs(),
        evals_skipped: pacer.skipped(),
        checkpoint: st,
    })
}
