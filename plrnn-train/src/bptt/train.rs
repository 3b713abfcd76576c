//! Training by BPTT: random sequences in mini-batches, parallel per-sequence gradients summed
//! in a fixed order, RAdam with gradient-norm clipping and exponential learning-rate decay,
//! checkpoints and resume. The epochs, evaluation, best-model keeping and checkpoint cadence are
//! the shared loop's ([`crate::train_loop`]).

use std::path::Path;

use rand::RngExt;
use rand_xoshiro::rand_core::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::config::{BpttConfig, ValidBpttConfig};
use super::model::{self, Layout, Workspace};
use crate::core::Forcing;
use crate::optim::{clip_grad_norm, project_a, RAdam};
use crate::train_loop::{self, Hooks, Interrupt, Method, Plan, TrainError, Update};
use crate::TimeSeries;

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
    /// Training time in seconds: the updates and the scheduled held-out evaluations (what the
    /// time budget bounds); the evaluation of a run cut short (or without a schedule) after it
    /// ended is excluded.
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
    pub fn save(&self, path: &Path) -> Result<(), TrainError> {
        crate::io::write_json_atomic(path, self)
            .map_err(|reason| TrainError::checkpoint(path, reason))
    }

    /// Reads a checkpoint written by [`BpttCheckpoint::save`].
    pub fn load(path: &Path) -> Result<Self, TrainError> {
        let err = |reason: String| TrainError::checkpoint(path, reason);
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
/// the end, the hooks' evaluator scores the current model (lower is better; `None` = no score)
/// and the best one is kept; the stop flag ends training after the current update; checkpoints
/// are written where the hooks say ([`resume`] continues from one). σ_z and σ_x of the returned
/// models are the RMS training residual of the observed latents under teacher forcing (the
/// square root of the epoch's loss).
///
/// Reproducibility: without a time budget (and without `stop`), the same data, config and seed
/// give the same bits for any thread count. With `time_budget_secs`, the learning-rate and α
/// schedules follow the elapsed training time and the run ends at a time, so the result
/// depends on the machine's speed.
pub fn train(
    trials: &[TimeSeries],
    cfg: &ValidBpttConfig,
    hooks: &mut Hooks<'_, plrnn_nostd::ModelBuf>,
) -> Result<BpttOutcome, TrainError> {
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
    hooks: &mut Hooks<'_, plrnn_nostd::ModelBuf>,
) -> Result<BpttOutcome, TrainError> {
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
    let len = d.layout(cfg).len();
    let sizes = [
        ("n", checkpoint.n, d.n),
        ("params.len", checkpoint.params.len(), len),
        ("good.len", checkpoint.good.len(), len),
        ("opt.len", checkpoint.opt.len(), len),
    ];
    train_loop::check_resume(diff, &sizes)?;
    if let Some(b) = &checkpoint.best {
        if b.params.len() != len {
            return Err(TrainError::CheckpointMismatch {
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

fn check_trials(trials: &[TimeSeries], cfg: &ValidBpttConfig) -> Result<TrialFacts, TrainError> {
    let n = train_loop::check_trials(trials)?;
    if n == 0 {
        return Err(TrainError::NoChannels);
    }
    if cfg.latent_dim < n {
        return Err(TrainError::LatentTooSmall {
            latent_dim: cfg.latent_dim,
            channels: n,
        });
    }
    let t_len = cfg.seq_len;
    let longest = trials.iter().map(|t| t.len()).max().unwrap_or(0);
    if longest < t_len + 1 {
        return Err(TrainError::ShorterThanSequence {
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

/// A BPTT run as the shared loop ([`train_loop::run`]) drives it.
struct BpttRun<'a> {
    trials: &'a [TimeSeries],
    cfg: &'a ValidBpttConfig,
    d: &'a TrialFacts,
    layout: Layout,
    pool: rayon::ThreadPool,
    /// The batch's mean gradient.
    grad: Vec<f64>,
    st: BpttCheckpoint,
}

/// Trains from any state (fresh or resumed).
fn run(
    trials: &[TimeSeries],
    cfg: &ValidBpttConfig,
    d: &TrialFacts,
    st: BpttCheckpoint,
    hooks: &mut Hooks<'_, plrnn_nostd::ModelBuf>,
) -> Result<BpttOutcome, TrainError> {
    let layout = d.layout(cfg);
    let mut r = BpttRun {
        trials,
        cfg,
        d,
        grad: vec![0.0; layout.len()],
        layout,
        pool: train_loop::pool(cfg.threads)?,
        st,
    };
    let plan = Plan {
        epochs: cfg.epochs,
        time_budget_secs: cfg.time_budget_secs,
        eval_every: cfg.eval_every,
        checkpoint_every: cfg.checkpoint_every,
    };
    let end = train_loop::run(&mut r, plan, hooks)?;
    let (layout, st) = (r.layout, r.st);
    let last_loss = st.last_loss.unwrap_or(f64::NAN);
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
        eval_secs: end.eval_secs,
        evals_skipped: end.evals_skipped,
        last_loss,
        diverged: end.diverged,
        stopped: end.stopped,
    })
}

impl BpttRun<'_> {
    /// The mean loss of the last booked epoch (NaN before the first).
    fn last_loss(&self) -> f64 {
        self.st.last_loss.unwrap_or(f64::NAN)
    }

    /// Books the epoch in progress as done, if it had any sequence.
    fn book_epoch(&mut self) -> f64 {
        let st = &mut self.st;
        if st.epoch_seqs > 0 {
            st.last_loss = Some(st.epoch_loss / st.epoch_seqs as f64);
            st.epochs_done = st.epoch + 1;
        }
        self.last_loss()
    }
}

impl Method for BpttRun<'_> {
    type Snapshot = plrnn_nostd::ModelBuf;
    const INTERRUPT: Interrupt = Interrupt::BookPartial;
    const ALWAYS_SCORE_LAST: bool = true;

    fn epoch(&self) -> usize {
        self.st.epoch
    }

    fn epochs_done(&self) -> usize {
        self.st.epochs_done
    }

    fn updates(&self) -> u64 {
        self.st.updates as u64
    }

    fn clock(&mut self) -> Option<&mut f64> {
        Some(&mut self.st.train_secs)
    }

    fn begin_epoch(&mut self, _secs: f64) {
        let st = &mut self.st;
        if st.left.is_none() {
            st.left = Some(self.d.seqs_per_epoch);
            st.epoch_loss = 0.0;
            st.epoch_seqs = 0;
        }
    }

    fn epoch_complete(&self) -> bool {
        self.st.left.is_none_or(|l| l == 0)
    }

    fn update(&mut self, secs: f64) -> Result<Update, TrainError> {
        let (cfg, d, layout, trials) = (self.cfg, self.d, &self.layout, self.trials);
        let (n, t_len) = (d.n, cfg.seq_len);
        let st = &mut self.st;
        let left = st.left.unwrap_or(0);
        let bs = left.min(cfg.batch_size);
        // Share of the run done: by epochs, or by the budget when that is further.
        let frac = {
            let e = st.epoch as f64 / cfg.epochs as f64;
            match cfg.time_budget_secs {
                Some(b) => e.max(secs / b),
                None => e,
            }
        };
        let forcing = Forcing {
            alpha: cfg.alpha_at(frac),
            interval: cfg.tf_interval,
            forced: layout.n,
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
        let per_seq: Vec<(f64, Vec<f64>)> = self.pool.install(|| {
            picks
                .par_iter()
                .map_init(Workspace::default, |ws, &(ti, s)| {
                    let x = &trials[ti].as_slice()[s * n..(s + t_len + 1) * n];
                    let mut g = vec![0.0; layout.len()];
                    let l = model::loss_grad(layout, params, x, forcing, ws, &mut g);
                    (l, g)
                })
                .collect()
        });
        let grad = &mut self.grad;
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
            st.params.copy_from_slice(&st.good);
            return Ok(Update::Diverged);
        }
        clip_grad_norm(grad, cfg.grad_clip);
        st.good.copy_from_slice(&st.params);
        st.opt.step(&mut st.params, grad, cfg.lr_at(frac));
        project_a(&mut st.params[layout.core.a.clone()], cfg.a_max);
        st.updates += 1;
        st.epoch_loss += batch_loss;
        st.epoch_seqs += bs;
        st.left = Some(left - bs);
        Ok(Update::Done)
    }

    fn end_epoch(&mut self) -> f64 {
        let loss = self.book_epoch();
        self.st.epoch += 1;
        self.st.left = None;
        loss
    }

    fn book_partial_epoch(&mut self) -> f64 {
        self.book_epoch()
    }

    fn snapshot(&self) -> plrnn_nostd::ModelBuf {
        to_model_buf(&self.layout, &self.st.params, self.last_loss().sqrt())
    }

    fn best_score(&self) -> Option<f64> {
        self.st.best.as_ref().map(|b| b.score)
    }

    fn keep_best(&mut self, _model: plrnn_nostd::ModelBuf, score: f64) {
        // Kept as the parameters it was exported from (what a checkpoint stores).
        self.st.best = Some(BestState {
            params: self.st.params.clone(),
            sigma: self.last_loss().sqrt(),
            epoch: self.st.epochs_done,
            score,
        });
    }

    fn save(&self, path: &Path) -> Result<(), TrainError> {
        self.st.save(path)
    }
}
