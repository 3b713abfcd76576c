//! The optimisers and the gradient clipping both trainers use, over a flat parameter vector:
//! [`Adam`] (the variational trainer, [`crate::vi`]), [`RAdam`] (BPTT, [`crate::bptt`]) and
//! [`clip_grad_norm`]. Their states serialise into the trainers' checkpoints, so a resumed run
//! continues bit for bit.

use serde::{Deserialize, Serialize};

/// Adam state: first and second moments and the step count.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Adam {
    /// Learning rate.
    pub lr: f64,
    /// Decay of the first moment.
    pub beta1: f64,
    /// Decay of the second moment.
    pub beta2: f64,
    /// Denominator offset.
    pub eps: f64,
    /// First moments.
    pub m: Vec<f64>,
    /// Second moments.
    pub v: Vec<f64>,
    /// Updates done.
    pub t: u64,
}

impl Adam {
    /// Fresh state for `len` parameters with PyTorch's defaults (β = 0.9, 0.999; ε = 1e-8).
    pub fn new(len: usize, lr: f64) -> Self {
        Self {
            lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            m: vec![0.0; len],
            v: vec![0.0; len],
            t: 0,
        }
    }

    /// One update of `params` with `grad` (bias-corrected, as PyTorch).
    pub fn step(&mut self, params: &mut [f64], grad: &[f64]) {
        self.t += 1;
        let bc1 = 1.0 - self.beta1.powi(self.t.min(i32::MAX as u64) as i32);
        let bc2 = 1.0 - self.beta2.powi(self.t.min(i32::MAX as u64) as i32);
        let step = self.lr / bc1;
        let bc2_sqrt = bc2.sqrt();
        for (((p, g), m), v) in params
            .iter_mut()
            .zip(grad)
            .zip(&mut self.m)
            .zip(&mut self.v)
        {
            *m = self.beta1 * *m + (1.0 - self.beta1) * g;
            *v = self.beta2 * *v + (1.0 - self.beta2) * g * g;
            *p -= step * *m / ((*v).sqrt() / bc2_sqrt + self.eps);
        }
    }
}

/// RAdam (Liu et al. 2020) with PyTorch's defaults (β = 0.9, 0.999; ε = 1e-8).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RAdam {
    m: Vec<f64>,
    v: Vec<f64>,
    t: u64,
}

impl RAdam {
    /// Fresh state for `len` parameters.
    pub fn new(len: usize) -> Self {
        Self {
            m: vec![0.0; len],
            v: vec![0.0; len],
            t: 0,
        }
    }

    /// The number of parameters the state is for (the shorter moment vector, so a checkpoint
    /// whose two vectors disagree never matches a layout).
    pub fn len(&self) -> usize {
        self.m.len().min(self.v.len())
    }

    /// Whether the state is for no parameters.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// One update with learning rate `lr`.
    pub fn step(&mut self, params: &mut [f64], grad: &[f64], lr: f64) {
        const B1: f64 = 0.9;
        const B2: f64 = 0.999;
        self.t += 1;
        let t = self.t.min(i32::MAX as u64) as i32;
        let bc1 = 1.0 - B1.powi(t);
        let b2t = B2.powi(t);
        let rho_inf = 2.0 / (1.0 - B2) - 1.0;
        let rho_t = rho_inf - 2.0 * t as f64 * b2t / (1.0 - b2t);
        let rect = if rho_t > 5.0 {
            Some(
                ((rho_t - 4.0) * (rho_t - 2.0) * rho_inf
                    / ((rho_inf - 4.0) * (rho_inf - 2.0) * rho_t))
                    .sqrt(),
            )
        } else {
            None
        };
        let bc2_sqrt = (1.0 - b2t).sqrt();
        for (((p, g), m), v) in params
            .iter_mut()
            .zip(grad)
            .zip(&mut self.m)
            .zip(&mut self.v)
        {
            *m = B1 * *m + (1.0 - B1) * g;
            *v = B2 * *v + (1.0 - B2) * g * g;
            let mhat = *m / bc1;
            match rect {
                Some(r) => *p -= lr * r * mhat / ((*v).sqrt() / bc2_sqrt + 1e-8),
                None => *p -= lr * mhat,
            }
        }
    }
}

/// Projects the autoregressive weights A onto [−a_max, a_max] after an update (`a_max` = 0:
/// no projection). With a_max < 1 the `ClippedDendritic` model is bounded by construction
/// (its φ is bounded, so |z_t| stays below (|W| ‖φ‖∞ + |h|) / (1 − a_max) per unit).
pub fn project_a(a: &mut [f64], a_max: f64) {
    if a_max > 0.0 {
        for a in a {
            *a = a.clamp(-a_max, a_max);
        }
    }
}

/// Scales `grad` so its Euclidean norm is at most `max_norm` (0 = no clipping); returns the
/// norm before clipping. The factor is `max_norm / (norm + 1e-6)`, PyTorch's `clip_grad_norm_`
/// (the offset keeps a tiny norm from amplifying rounding noise; the clipped norm ends just
/// below `max_norm`).
pub fn clip_grad_norm(grad: &mut [f64], max_norm: f64) -> f64 {
    let norm = grad.iter().map(|g| g * g).sum::<f64>().sqrt();
    if max_norm > 0.0 && norm > max_norm {
        let s = max_norm / (norm + 1e-6);
        grad.iter_mut().for_each(|g| *g *= s);
    }
    norm
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adam_minimises_a_quadratic() {
        let mut p = vec![3.0, -2.0];
        let mut opt = Adam::new(2, 0.1);
        for _ in 0..500 {
            let g: Vec<f64> = p.iter().map(|x| 2.0 * x).collect();
            opt.step(&mut p, &g);
        }
        assert!(p.iter().all(|x| x.abs() < 1e-2), "{p:?}");
    }

    #[test]
    fn radam_minimises_a_quadratic() {
        // The first steps (ρ_t ≤ 5) are plain momentum steps; later ones rectified.
        let mut p = vec![3.0, -2.0];
        let mut opt = RAdam::new(2);
        for _ in 0..2000 {
            let g: Vec<f64> = p.iter().map(|x| 2.0 * x).collect();
            opt.step(&mut p, &g, 0.01);
        }
        assert!(p.iter().all(|x| x.abs() < 1e-2), "{p:?}");
    }

    #[test]
    fn clipping_bounds_the_norm() {
        let mut g = vec![3.0, 4.0];
        assert_eq!(clip_grad_norm(&mut g, 1.0), 5.0);
        let n = (g[0] * g[0] + g[1] * g[1]).sqrt();
        assert!((n - 1.0).abs() < 1e-6);
        let mut g = vec![0.3, 0.4];
        clip_grad_norm(&mut g, 1.0);
        assert_eq!(g, vec![0.3, 0.4]);
    }

    #[test]
    fn projection_clamps_a_and_zero_turns_it_off() {
        let mut a = vec![1.5, -2.0, 0.3, -0.999];
        project_a(&mut a, 0.99);
        assert_eq!(a, vec![0.99, -0.99, 0.3, -0.99]);
        let mut a = vec![1.5, -2.0];
        project_a(&mut a, 0.0);
        assert_eq!(a, vec![1.5, -2.0]);
    }
}
