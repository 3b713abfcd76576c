//! Training by VI: mini-batches of sequences in a shuffled order, gradients in parallel over the
//! batch (summed in a fixed order, so the result does not depend on the thread count), Adam with
//! clipping, checkpoints and resume. The epochs, evaluation, best-model keeping and checkpoint
//! cadence are the shared loop's ([`crate::train_loop`]).

use std::path::Path;

use rand::RngExt;
use rand_xoshiro::rand_core::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;
use rayon::prelude::*;

use super::checkpoint::{BestModel, Checkpoint, CHECKPOINT_FORMAT};
use super::config::{InitialState, ValidConfig};
use super::elbo::{loss_grad, regulariser, LossSettings, SeqRef, Workspace};
use super::encoder::EncView;
use super::model::TrainedModel;
use super::normal::NormalSampler;
use super::params::{init_with, Layout, ObsStart};
use super::tf::{add_term, TfWorkspace};
use crate::optim::{clip_grad_norm, project_a, Adam};
use crate::train_loop::{self, Hooks, Interrupt, Method, Plan, TrainError, Update};
use crate::TimeSeries;

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
    let n = train_loop::check_trials(trials)?;
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
    hooks: &mut Hooks<'_, TrainedModel>,
) -> Result<TrainOutcome, TrainError> {
    train_with_inputs(trials, &[], cfg, hooks)
}

/// Trains with external inputs: `inputs[i]` (T_i × K) drives trial `i` (empty slice: K = 0).
pub fn train_with_inputs(
    trials: &[TimeSeries],
    inputs: &[TimeSeries],
    cfg: &ValidConfig,
    hooks: &mut Hooks<'_, TrainedModel>,
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
    hooks: &mut Hooks<'_, TrainedModel>,
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
        tf_force,
        a_max
    );
    let dims = [
        ("n", checkpoint.n, n),
        ("k", checkpoint.k, k),
        ("n_seq", checkpoint.n_seq, pieces.len()),
    ];
    train_loop::check_resume(diff, &dims)?;
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

/// A VI run as the shared loop ([`train_loop::run`]) drives it.
struct ViRun<'a> {
    trials: &'a [TimeSeries],
    inputs: &'a [TimeSeries],
    cfg: &'a ValidConfig,
    layout: &'a Layout,
    pieces: &'a [Piece],
    pool: rayon::ThreadPool,
    /// Sequences per batch.
    bs: usize,
    n_batches: usize,
    slots: Vec<Slot>,
    /// The batch's summed gradient.
    total: Vec<f64>,
    /// The epoch's sequence order.
    order: Vec<usize>,
    /// The epoch's loss settings.
    set: LossSettings,
    st: Checkpoint,
}

fn run(
    trials: &[TimeSeries],
    inputs: &[TimeSeries],
    cfg: &ValidConfig,
    layout: &Layout,
    pieces: &[Piece],
    st: Checkpoint,
    hooks: &mut Hooks<'_, TrainedModel>,
) -> Result<TrainOutcome, TrainError> {
    let bs = cfg.batch_size.min(pieces.len());
    let mut r = ViRun {
        trials,
        inputs,
        cfg,
        layout,
        pieces,
        pool: train_loop::pool(cfg.threads)?,
        bs,
        n_batches: pieces.len().div_ceil(bs),
        slots: (0..bs)
            .map(|_| Slot {
                ws: Workspace::default(),
                tf: TfWorkspace::default(),
                eps: Vec::new(),
                grad: vec![0.0; layout.len],
                loss: 0.0,
            })
            .collect(),
        total: vec![0.0; layout.len],
        order: Vec::new(),
        set: LossSettings {
            obs_weight: 0.0,
            sigma_z_min: cfg.sigma_z_min,
            initial_state: cfg.initial_state,
        },
        st,
    };
    let plan = Plan {
        epochs: cfg.epochs,
        time_budget_secs: cfg.time_budget_secs,
        eval_every: cfg.eval_every,
        checkpoint_every: cfg.checkpoint_every,
    };
    let end = train_loop::run(&mut r, plan, hooks)?;
    let st = r.st;
    Ok(TrainOutcome {
        model: TrainedModel::from_flat(layout, &st.params, cfg.sigma_z_min),
        best: st.best.clone(),
        epochs_done: st.epoch,
        updates: st.updates,
        stopped: end.stopped,
        out_of_time: end.out_of_time,
        eval_secs: end.eval_secs,
        evals_skipped: end.evals_skipped,
        checkpoint: st,
    })
}

impl Method for ViRun<'_> {
    type Snapshot = TrainedModel;
    const INTERRUPT: Interrupt = Interrupt::AtOnce;
    const ALWAYS_SCORE_LAST: bool = false;

    fn epoch(&self) -> usize {
        self.st.epoch
    }

    fn epochs_done(&self) -> usize {
        self.st.epoch
    }

    fn updates(&self) -> u64 {
        self.st.updates
    }

    fn clock(&mut self) -> Option<&mut f64> {
        None
    }

    fn begin_epoch(&mut self, secs: f64) {
        let (cfg, epoch) = (self.cfg, self.st.epoch);
        self.set.obs_weight = cfg.obs_weight_at(epoch);
        self.st.adam.lr = cfg.learning_rate_at(epoch, secs);
        // The epoch's sequence order: a Fisher–Yates shuffle seeded by (seed, epoch).
        self.order = (0..self.pieces.len()).collect();
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed_for(cfg.seed, 1, epoch, 0));
        for i in (1..self.order.len()).rev() {
            let j = rng.random_range(0..=i);
            self.order.swap(i, j);
        }
    }

    fn epoch_complete(&self) -> bool {
        self.st.batch >= self.n_batches
    }

    fn update(&mut self, _secs: f64) -> Result<Update, TrainError> {
        let (cfg, layout, pieces) = (self.cfg, self.layout, self.pieces);
        let (trials, inputs) = (self.trials, self.inputs);
        let (n, k, m) = (layout.n, layout.core.k, layout.core.m);
        let bs = self.bs;
        let st = &mut self.st;
        let ids = &self.order[st.batch * bs..((st.batch + 1) * bs).min(self.order.len())];
        let params = &st.params;
        let epoch = st.epoch;
        let set = self.set;
        let slots = &mut self.slots;
        self.pool.install(|| {
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
        let total = &mut self.total;
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
        loss += regulariser(layout, &st.params, cfg.reg_lambda, cfg.reg_share, total);
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
        clip_grad_norm(total, cfg.grad_clip);
        st.adam.step(&mut st.params, total);
        project_a(&mut st.params[layout.core.a.clone()], cfg.a_max);
        st.updates += 1;
        st.batch += 1;
        st.epoch_loss_sum += loss;
        Ok(Update::Done)
    }

    fn end_epoch(&mut self) -> f64 {
        let st = &mut self.st;
        let loss = st.epoch_loss_sum / self.n_batches as f64;
        st.epoch += 1;
        st.batch = 0;
        st.epoch_loss_sum = 0.0;
        loss
    }

    fn book_partial_epoch(&mut self) -> f64 {
        // Not called: a VI epoch is never booked before it is complete (Interrupt::AtOnce).
        self.st.epoch_loss_sum / self.st.batch.max(1) as f64
    }

    fn snapshot(&self) -> TrainedModel {
        TrainedModel::from_flat(self.layout, &self.st.params, self.cfg.sigma_z_min)
    }

    fn best_score(&self) -> Option<f64> {
        self.st.best.as_ref().map(|b| b.score)
    }

    fn keep_best(&mut self, model: TrainedModel, score: f64) {
        self.st.best = Some(BestModel {
            model,
            score,
            epoch: self.st.epoch,
        });
    }

    fn save(&self, path: &Path) -> Result<(), TrainError> {
        self.st.save(path)
    }
}
