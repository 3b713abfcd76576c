//! When the trainers score their snapshots on the held-out data.
//!
//! Both trainers evaluate every `eval_every` epochs. An evaluation generates free runs and
//! compares them with the held-out series (D_stsp, D_H, the Lyapunov exponent); with many
//! channels it costs as much as many updates (64-channel EEG: one evaluation ≈ 2–3 s, as much as
//! BPTT's last five epochs). Under a time budget, evaluating on the epoch schedule alone could
//! spend half the budget scoring instead of training. [`EvalPacer`] caps that share: while the
//! evaluations so far have taken more than [`EVAL_SHARE`] of the time spent, a scheduled
//! evaluation is skipped. Without a budget the schedule is kept exactly (a run with a fixed
//! number of epochs evaluates the same epochs on any machine); the final evaluation is never
//! skipped.

/// The largest share of a budgeted run's time that scheduled held-out evaluations may take.
pub const EVAL_SHARE: f64 = 0.2;

/// Decides whether a scheduled held-out evaluation runs; see the module docs.
#[derive(Clone, Debug)]
pub struct EvalPacer {
    /// Whether the run has a time budget (only then are evaluations skipped).
    budgeted: bool,
    /// Seconds spent in evaluations so far.
    eval_secs: f64,
    /// Scheduled evaluations skipped so far.
    skipped: usize,
}

impl EvalPacer {
    /// A pacer for a run with (`budgeted`) or without a time budget.
    pub fn new(budgeted: bool) -> Self {
        Self {
            budgeted,
            eval_secs: 0.0,
            skipped: 0,
        }
    }

    /// Whether the evaluation scheduled now runs, `elapsed_secs` into the run (evaluations
    /// included). Counts it as skipped when it does not.
    pub fn due(&mut self, elapsed_secs: f64) -> bool {
        let due = !self.budgeted || self.eval_secs <= EVAL_SHARE * elapsed_secs;
        if !due {
            self.skipped += 1;
        }
        due
    }

    /// Books an evaluation that took `secs`.
    pub fn record(&mut self, secs: f64) {
        self.eval_secs += secs;
    }

    /// Seconds spent in evaluations so far.
    pub fn eval_secs(&self) -> f64 {
        self.eval_secs
    }

    /// Scheduled evaluations skipped so far.
    pub fn skipped(&self) -> usize {
        self.skipped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_budget_every_scheduled_evaluation_runs() {
        let mut p = EvalPacer::new(false);
        p.record(100.0);
        assert!(p.due(1.0));
        assert_eq!(p.skipped(), 0);
    }

    #[test]
    fn with_a_budget_evaluations_stay_near_their_share() {
        // Epochs of 1 s, an evaluation scheduled after each costing 1 s: without pacing half the
        // time would go to evaluations.
        let mut p = EvalPacer::new(true);
        let (mut t, mut evals) = (0.0, 0);
        for _ in 0..1000 {
            t += 1.0;
            if p.due(t) {
                p.record(1.0);
                t += 1.0;
                evals += 1;
            }
        }
        let share = p.eval_secs() / t;
        assert!(
            (EVAL_SHARE - 0.02..=EVAL_SHARE + 0.01).contains(&share),
            "{share}"
        );
        assert_eq!(evals + p.skipped(), 1000);
        // The first scheduled evaluation always runs.
        let mut q = EvalPacer::new(true);
        assert!(q.due(0.0));
    }

    #[test]
    fn cheap_evaluations_are_never_skipped() {
        let mut p = EvalPacer::new(true);
        let mut t = 0.0;
        for _ in 0..100 {
            t += 1.0;
            assert!(p.due(t));
            p.record(0.1);
            t += 0.1;
        }
    }
}
