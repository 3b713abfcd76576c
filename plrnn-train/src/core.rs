//! The f64 reference of the latent dynamics that the trainers share: φ, φ′, the step
//! F(z) = A∘z + W φ(z) + h, its Jacobian-vector product, and the backward pass of one step.
//! It works on borrowed parameter blocks ([`Dynamics`]). [`DynLayout`] says where those blocks
//! sit in a trainer's flat parameter vector: both trainers store A, W, h, α, θ, C first and
//! append their own blocks (BPTT's [`crate::bptt`] loss and VI's teacher-forcing term,
//! `vi::tf`, both run on it; the SIMD ELBO kernel is tested against `vi::model`, which computes
//! the same φ).
//!
//! φ by variant (θ_j = row j of θ, M×P):
//!
//! ```text
//! Relu:              φ_j(u) = max(0, u)                              φ′_j = 1[u > 0]
//! Dendritic:         φ_j(u) = Σ_b α_b max(0, u − θ_jb)               φ′_j = Σ_b α_b 1[u > θ_jb]
//! ClippedDendritic:  φ_j(u) = Σ_b α_b [max(0, u − θ_jb) − max(0, u)]  φ′_j = Σ_b α_b (1[u > θ_jb] − 1[u > 0])
//! ```

// Index loops keep the equations readable next to their derivations.
#![allow(clippy::needless_range_loop)]

use std::ops::Range;

use plrnn_nostd::Variant;

/// Hands out consecutive index ranges of a flat parameter vector, in the order asked for.
#[derive(Clone, Copy, Debug, Default)]
pub struct Blocks {
    at: usize,
}

impl Blocks {
    /// Starts handing out ranges at index `at`.
    pub fn starting_at(at: usize) -> Self {
        Self { at }
    }

    /// The next `len` indices.
    pub fn take(&mut self, len: usize) -> Range<usize> {
        let r = self.at..self.at + len;
        self.at += len;
        r
    }

    /// The index after the last range handed out (the total length so far).
    pub fn end(&self) -> usize {
        self.at
    }
}

/// Where the dynamics' blocks sit in a flat parameter vector: A (M), W (M·M, row-major),
/// h (M), α (P), θ (M·P, row-major), C (M·K, row-major), stored in this order from index 0.
/// Each trainer's layout starts with these blocks and appends its own after [`DynLayout::len`]
/// (VI: B, the noise scales, initial states and the encoder; BPTT: the map L to the hidden
/// latents), so the storage order of every checkpoint and model file follows from here.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DynLayout {
    /// φ variant.
    pub variant: Variant,
    /// Latent dimension M.
    pub m: usize,
    /// Bases P (0 for `Relu`).
    pub p: usize,
    /// Input dimension K.
    pub k: usize,
    /// Diagonal A (M).
    pub a: Range<usize>,
    /// W, M×M row-major (its diagonal is not trained: masked in the gradient).
    pub w: Range<usize>,
    /// Bias h (M).
    pub h: Range<usize>,
    /// α (P).
    pub alpha: Range<usize>,
    /// θ, M×P row-major.
    pub theta: Range<usize>,
    /// C, M×K row-major.
    pub c: Range<usize>,
}

impl DynLayout {
    /// The blocks of a model with `m` latents, `p` bases and `k` inputs.
    pub fn new(variant: Variant, m: usize, p: usize, k: usize) -> Self {
        let mut at = Blocks::default();
        Self {
            variant,
            m,
            p,
            k,
            a: at.take(m),
            w: at.take(m * m),
            h: at.take(m),
            alpha: at.take(p),
            theta: at.take(m * p),
            c: at.take(m * k),
        }
    }

    /// Number of indices the dynamics' blocks take (the first index after them).
    pub fn len(&self) -> usize {
        self.c.end
    }

    /// Whether the blocks are empty (never, since M ≥ 1).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A [`Blocks`] for the trainer's own blocks, which follow the dynamics'.
    pub fn rest(&self) -> Blocks {
        Blocks::starting_at(self.len())
    }

    /// The dynamics' blocks of `params` as a [`Dynamics`] view.
    pub fn dynamics<'a>(&self, params: &'a [f64]) -> Dynamics<'a> {
        Dynamics::new(
            self.variant,
            self.m,
            self.p,
            &params[self.a.clone()],
            &params[self.w.clone()],
            &params[self.h.clone()],
            &params[self.alpha.clone()],
            &params[self.theta.clone()],
        )
    }

    /// The blocks of a gradient vector (laid out as the parameters) that
    /// [`Dynamics::backward`] adds to.
    pub fn grad<'a>(&self, grad: &'a mut [f64]) -> DynamicsGrad<'a> {
        let (a, rest) = grad[self.a.start..self.theta.end].split_at_mut(self.m);
        let (w, rest) = rest.split_at_mut(self.m * self.m);
        let (h, rest) = rest.split_at_mut(self.m);
        let (alpha, theta) = rest.split_at_mut(self.p);
        DynamicsGrad {
            a,
            w,
            h,
            alpha,
            theta,
        }
    }

    /// Every block with its name, in storage order.
    pub fn blocks(&self) -> [(&'static str, Range<usize>); 6] {
        [
            ("a", self.a.clone()),
            ("w", self.w.clone()),
            ("h", self.h.clone()),
            ("alpha", self.alpha.clone()),
            ("theta", self.theta.clone()),
            ("c", self.c.clone()),
        ]
    }
}

/// Read-only view of the dynamics' parameter blocks.
#[derive(Clone, Copy, Debug)]
pub struct Dynamics<'a> {
    /// φ variant.
    pub variant: Variant,
    /// Latent dimension M.
    pub m: usize,
    /// Bases P (0 for `Relu`).
    pub p: usize,
    /// Diagonal A (M).
    pub a: &'a [f64],
    /// W, M×M row-major (its diagonal is not used by the trainers: masked in the gradient).
    pub w: &'a [f64],
    /// Bias h (M).
    pub h: &'a [f64],
    /// α (P).
    pub alpha: &'a [f64],
    /// θ, M×P row-major.
    pub theta: &'a [f64],
    /// Σ_b α_b (used by the clipped variant).
    sa: f64,
}

/// Gradient blocks matching a [`Dynamics`] view; the backward pass adds to them.
#[derive(Debug)]
pub struct DynamicsGrad<'a> {
    /// ∂/∂A (M).
    pub a: &'a mut [f64],
    /// ∂/∂W (M×M; the diagonal is left at 0).
    pub w: &'a mut [f64],
    /// ∂/∂h (M).
    pub h: &'a mut [f64],
    /// ∂/∂α (P).
    pub alpha: &'a mut [f64],
    /// ∂/∂θ (M×P).
    pub theta: &'a mut [f64],
}

/// Scratch rows of length M for [`Dynamics::backward`] and [`Dynamics::backward_traced`].
#[derive(Clone, Debug, Default)]
pub struct StepScratch {
    phi: Vec<f64>,
    dphi: Vec<f64>,
    q: Vec<f64>,
}

/// Whether step `t` is a sparse teacher-forcing step of interval `interval` (0 = never): the
/// schedule of [`Forcing`].
fn sparse_forcing_step(interval: usize, t: usize) -> bool {
    interval > 0 && t.is_multiple_of(interval)
}

/// The teacher-forcing rule both trainers run the model by (BPTT toward the data, VI's
/// `elbo_tf` toward the encoder's means): the first K latents of the model's prediction y_t are
/// replaced by the target d_t on sparse-forcing steps (t mod τ = 0, when τ > 0) and mixed with
/// it as (1 − α) y_t + α d_t on the others (generalised teacher forcing); the other latents
/// keep y_t. So the state carried on is z̃_t = (1 − κ_t) y_t + κ_t d_t on the first K, with
/// κ_t = 1 on forcing steps and α otherwise ([`Forcing::weight_at`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Forcing {
    /// Generalised teacher-forcing weight α ∈ [0, 1] of the target between forcing steps.
    pub alpha: f64,
    /// Sparse teacher-forcing interval τ (0 = off).
    pub interval: usize,
    /// Number K of leading latents forced (capped at the state's length); the rest run free.
    pub forced: usize,
}

impl Forcing {
    /// κ_t, the target's weight at step `t`: 1 on a sparse-forcing step, α otherwise.
    pub fn weight_at(&self, t: usize) -> f64 {
        if sparse_forcing_step(self.interval, t) {
            1.0
        } else {
            self.alpha
        }
    }

    /// The forced state of step `t` into `out` (the length of `y`): `y` with its first K
    /// entries replaced by `target`'s (exact copies on forcing steps) or mixed with them (κ_t
    /// between 0 and 1). `target` holds at least the first K entries.
    pub fn force(&self, t: usize, y: &[f64], target: &[f64], out: &mut [f64]) {
        let k = self.forced.min(y.len());
        out[k..].copy_from_slice(&y[k..]);
        let kt = self.weight_at(t);
        if kt == 1.0 {
            out[..k].copy_from_slice(&target[..k]);
        } else if kt > 0.0 {
            for i in 0..k {
                out[i] = (1.0 - kt) * y[i] + kt * target[i];
            }
        } else {
            out[..k].copy_from_slice(&y[..k]);
        }
    }

    /// The backward pass of [`Forcing::force`] at step `t`: from ∂L/∂z̃_t in `gbar`, writes
    /// ∂L/∂y_t (through z̃_t only) into `g` and adds ∂L/∂d_t = κ_t ∂L/∂z̃_t for the first K
    /// entries to `dtarget` when given.
    pub fn backward(&self, t: usize, gbar: &[f64], g: &mut [f64], dtarget: Option<&mut [f64]>) {
        let k = self.forced.min(gbar.len());
        let kt = self.weight_at(t);
        let keep = 1.0 - kt;
        for i in 0..k {
            g[i] = keep * gbar[i];
        }
        g[k..].copy_from_slice(&gbar[k..]);
        if let Some(d) = dtarget {
            for i in 0..k {
                d[i] += kt * gbar[i];
            }
        }
    }
}

/// φ(z) and φ′(z) of the states one forward pass stepped from, row by row: written by
/// [`Dynamics::step_traced`], read by [`Dynamics::backward_traced`], so that the backward pass
/// does not compute them again.
#[derive(Clone, Debug, Default)]
pub struct StepTrace {
    phi: Vec<f64>,
    dphi: Vec<f64>,
}

impl StepTrace {
    /// Room for `rows` steps of `m` units.
    pub fn reset(&mut self, rows: usize, m: usize) {
        self.phi.resize(rows * m, 0.0);
        self.dphi.resize(rows * m, 0.0);
    }
}

impl<'a> Dynamics<'a> {
    /// A view of the given blocks (lengths: a, h: M; w: M·M; alpha: P; theta: M·P).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        variant: Variant,
        m: usize,
        p: usize,
        a: &'a [f64],
        w: &'a [f64],
        h: &'a [f64],
        alpha: &'a [f64],
        theta: &'a [f64],
    ) -> Self {
        debug_assert!(a.len() == m && h.len() == m && w.len() == m * m);
        debug_assert!(alpha.len() == p && theta.len() == m * p);
        Self {
            variant,
            m,
            p,
            a,
            w,
            h,
            alpha,
            theta,
            sa: alpha.iter().sum(),
        }
    }

    /// φ_j(u) and φ′_j(u) of unit `j` (see the module docs).
    #[inline]
    pub fn phi_dphi(&self, j: usize, u: f64) -> (f64, f64) {
        let relu = |x: f64| if x > 0.0 { x } else { 0.0 };
        let step = |x: f64| if x > 0.0 { 1.0 } else { 0.0 };
        match self.variant {
            Variant::Relu => (relu(u), step(u)),
            Variant::Dendritic | Variant::ClippedDendritic => {
                let p = self.p;
                let theta = &self.theta[j * p..(j + 1) * p];
                let (mut f, mut d) = (0.0, 0.0);
                for b in 0..p {
                    f += self.alpha[b] * relu(u - theta[b]);
                    d += self.alpha[b] * step(u - theta[b]);
                }
                if self.variant == Variant::ClippedDendritic {
                    f -= self.sa * relu(u);
                    d -= self.sa * step(u);
                }
                (f, d)
            }
        }
    }

    /// φ(u) into `phi` and φ′(u) into `dphi` for every unit (length M each): the same sums, in
    /// the same order, as [`Dynamics::phi_dphi`] unit by unit, so the same bits. The basis
    /// index runs outside the unit index within blocks of four units, so four sums advance
    /// side by side instead of as one chain of dependent additions per unit.
    pub fn phi_dphi_all(&self, u: &[f64], phi: &mut [f64], dphi: &mut [f64]) {
        let (m, p) = (self.m, self.p);
        let (u, phi, dphi) = (&u[..m], &mut phi[..m], &mut dphi[..m]);
        // Blocks of four units with their sums held in registers (dendritic variants); the
        // units after the last whole block, and every unit of `Relu`, one at a time.
        const U: usize = 4;
        let blocks = if self.variant == Variant::Relu {
            0
        } else {
            m / U * U
        };
        let clipped = self.variant == Variant::ClippedDendritic;
        for j0 in (0..blocks).step_by(U) {
            let uj: [f64; U] = std::array::from_fn(|k| u[j0 + k]);
            let rows: [&[f64]; U] =
                std::array::from_fn(|k| &self.theta[(j0 + k) * p..(j0 + k + 1) * p]);
            let (mut f, mut d) = ([0.0; U], [0.0; U]);
            for (b, &ab) in self.alpha.iter().enumerate() {
                for k in 0..U {
                    let r = uj[k] - rows[k][b];
                    let on = r > 0.0;
                    f[k] += ab * if on { r } else { 0.0 };
                    d[k] += ab * if on { 1.0 } else { 0.0 };
                }
            }
            if clipped {
                for k in 0..U {
                    let on = uj[k] > 0.0;
                    f[k] -= self.sa * if on { uj[k] } else { 0.0 };
                    d[k] -= self.sa * if on { 1.0 } else { 0.0 };
                }
            }
            phi[j0..j0 + U].copy_from_slice(&f);
            dphi[j0..j0 + U].copy_from_slice(&d);
        }
        for j in blocks..m {
            (phi[j], dphi[j]) = self.phi_dphi(j, u[j]);
        }
    }

    /// z_next = A∘z + W φ(z) + h; `phi` (length M) receives φ(z).
    pub fn step(&self, z: &[f64], phi: &mut [f64], z_next: &mut [f64]) {
        // z_next holds φ′ until `finish_step` overwrites it.
        self.phi_dphi_all(z, phi, z_next);
        self.finish_step(z, phi, z_next);
    }

    /// [`Dynamics::step`] that keeps φ(z) and φ′(z) in row `row` of `trace`, for
    /// [`Dynamics::backward_traced`] at the same z and row.
    pub fn step_traced(&self, z: &[f64], trace: &mut StepTrace, row: usize, z_next: &mut [f64]) {
        let r = row * self.m..(row + 1) * self.m;
        let (phi, dphi) = (&mut trace.phi[r.clone()], &mut trace.dphi[r]);
        self.phi_dphi_all(z, phi, dphi);
        self.finish_step(z, phi, z_next);
    }

    /// z_next = A∘z + W φ + h from φ = φ(z).
    fn finish_step(&self, z: &[f64], phi: &[f64], z_next: &mut [f64]) {
        let m = self.m;
        for i in 0..m {
            let row = &self.w[i * m..(i + 1) * m];
            let wphi: f64 = row.iter().zip(phi.iter()).map(|(w, f)| w * f).sum();
            z_next[i] = self.a[i] * z[i] + wphi + self.h[i];
        }
    }

    /// out = J(u) v with J(u) = ∂F/∂u = diag(A) + W diag(φ′(u)); `dv` (length M) is scratch.
    pub fn jvp(&self, u: &[f64], v: &[f64], dv: &mut [f64], out: &mut [f64]) {
        let m = self.m;
        // out holds φ until it is overwritten below.
        self.phi_dphi_all(u, out, dv);
        for j in 0..m {
            dv[j] *= v[j];
        }
        for i in 0..m {
            let row = &self.w[i * m..(i + 1) * m];
            let wdv: f64 = row.iter().zip(dv.iter()).map(|(w, d)| w * d).sum();
            out[i] = self.a[i] * v[i] + wdv;
        }
    }

    /// Backward pass of one step y = F(u): given g = ∂L/∂y, adds ∂L/∂(A, W, h, α, θ) to `grad`
    /// and writes ∂L/∂u (through F only) to `g_prev`.
    ///
    /// With q = Wᵀ g:
    /// ```text
    /// ∂/∂A_i   += g_i u_i                 ∂/∂h_i += g_i
    /// ∂/∂W_ij  += g_i φ_j(u)   (i ≠ j; the diagonal is masked)
    /// ∂/∂α_b   += Σ_j q_j ψ_b(u_j)        ψ_b(v) = relu(v − θ_jb) [− relu(v) clipped]
    /// ∂/∂θ_jb  += −q_j α_b 1[u_j > θ_jb]
    /// ∂L/∂u_j   = A_j g_j + q_j φ′_j(u_j)
    /// ```
    pub fn backward(
        &self,
        u: &[f64],
        g: &[f64],
        sc: &mut StepScratch,
        grad: &mut DynamicsGrad<'_>,
        g_prev: &mut [f64],
    ) {
        let StepScratch { phi, dphi, q } = sc;
        phi.resize(self.m, 0.0);
        dphi.resize(self.m, 0.0);
        self.phi_dphi_all(u, phi, dphi);
        self.backward_with(u, phi, dphi, g, q, grad, g_prev);
    }

    /// [`Dynamics::backward`] at the state of row `row` of `trace` (as
    /// [`Dynamics::step_traced`] left it), without computing φ and φ′ again.
    #[allow(clippy::too_many_arguments)]
    pub fn backward_traced(
        &self,
        u: &[f64],
        trace: &StepTrace,
        row: usize,
        g: &[f64],
        sc: &mut StepScratch,
        grad: &mut DynamicsGrad<'_>,
        g_prev: &mut [f64],
    ) {
        let r = row * self.m..(row + 1) * self.m;
        let (phi, dphi) = (&trace.phi[r.clone()], &trace.dphi[r]);
        self.backward_with(u, phi, dphi, g, &mut sc.q, grad, g_prev);
    }

    /// The backward pass from φ(u), φ′(u); `q` is scratch.
    #[allow(clippy::too_many_arguments)]
    fn backward_with(
        &self,
        u: &[f64],
        phi: &[f64],
        dphi: &[f64],
        g: &[f64],
        q: &mut Vec<f64>,
        grad: &mut DynamicsGrad<'_>,
        g_prev: &mut [f64],
    ) {
        let (m, p) = (self.m, self.p);
        q.clear();
        q.resize(m, 0.0);
        for i in 0..m {
            let gi = g[i];
            grad.a[i] += gi * u[i];
            grad.h[i] += gi;
            let wrow = &self.w[i * m..(i + 1) * m];
            let grow = &mut grad.w[i * m..(i + 1) * m];
            for j in 0..m {
                grow[j] += gi * phi[j];
                q[j] += wrow[j] * gi;
            }
            grow[i] = 0.0; // zero diagonal of W: masked
        }
        if p > 0 {
            let clipped = self.variant == Variant::ClippedDendritic;
            for j in 0..m {
                let qj = q[j];
                if qj == 0.0 {
                    continue;
                }
                let uj = u[j];
                let rj = if clipped && uj > 0.0 { uj } else { 0.0 };
                let rows = self.theta[j * p..(j + 1) * p]
                    .iter()
                    .zip(&mut grad.theta[j * p..(j + 1) * p]);
                let cols = self.alpha.iter().zip(grad.alpha.iter_mut());
                for ((&th, gth), (&ab, gab)) in rows.zip(cols) {
                    let r = uj - th;
                    // All ones where r > 0, else zero: `x & mask` is x or +0, as the selects
                    // `if r > 0 { x } else { 0.0 }` give, without a branch on data.
                    let mask = (-i64::from(r > 0.0)) as u64;
                    let on = |x: f64| f64::from_bits(x.to_bits() & mask);
                    *gab += qj * (on(r) - rj);
                    // Subtracting +0 when off leaves every value, −0 included, as it was.
                    *gth -= on(qj * ab);
                }
            }
        }
        for j in 0..m {
            g_prev[j] = self.a[j] * g[j] + q[j] * dphi[j];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(m: usize, p: usize) -> Vec<f64> {
        // Deterministic, irregular values (no two thresholds equal, no u on a threshold).
        (0..m + m * m + m + p + m * p)
            .map(|i| ((i as f64 * 0.618_034).fract() - 0.5) * 1.3)
            .collect()
    }

    fn view(v: &[f64], variant: Variant, m: usize, p: usize) -> Dynamics<'_> {
        DynLayout::new(variant, m, p, 0).dynamics(v)
    }

    /// The all-units φ, the step and the Jacobian-vector product give the bits of the
    /// unit-by-unit definitions: φ from [`Dynamics::phi_dphi`], rows of W summed in order; the
    /// traced step and backward pass give the bits of the plain ones.
    /// Inputs lie on both sides of every threshold and exactly on some (u = θ_jb, u = 0).
    #[test]
    fn batched_loops_give_the_bits_of_the_unit_by_unit_definitions() {
        for variant in [Variant::Relu, Variant::Dendritic, Variant::ClippedDendritic] {
            let (m, p) = (7, if variant == Variant::Relu { 0 } else { 5 });
            let v = params(m, p);
            let d = view(&v, variant, m, p);
            let mut u: Vec<f64> = (0..m).map(|j| (j as f64 * 0.37).sin() * 1.7).collect();
            if p > 0 {
                u[1] = d.theta[p + 2];
            }
            u[3] = 0.0;
            u[4] = -0.0;
            let x: Vec<f64> = (0..m).map(|j| (j as f64 * 1.3).cos()).collect();
            let (mut phi, mut dphi) = (vec![9.0; m], vec![9.0; m]);
            d.phi_dphi_all(&u, &mut phi, &mut dphi);
            let (mut y, mut jx) = (vec![9.0; m], vec![9.0; m]);
            d.step(&u, &mut vec![9.0; m], &mut y);
            d.jvp(&u, &x, &mut vec![9.0; m], &mut jx);
            // The traced step and backward pass (row 1 of a two-row trace) give the bits of
            // the plain ones.
            let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            let (mut trace, mut yt) = (StepTrace::default(), vec![9.0; m]);
            trace.reset(2, m);
            d.step_traced(&u, &mut trace, 1, &mut yt);
            assert_eq!(bits(&yt), bits(&y), "{variant:?} traced step");
            let layout = DynLayout::new(variant, m, p, 0);
            let (mut gv, mut gvt) = (vec![0.0; v.len()], vec![0.0; v.len()]);
            let (mut gu, mut gut) = (vec![0.0; m], vec![0.0; m]);
            let mut sc = StepScratch::default();
            d.backward(&u, &x, &mut sc, &mut layout.grad(&mut gv), &mut gu);
            let mut gt = layout.grad(&mut gvt);
            d.backward_traced(&u, &trace, 1, &x, &mut sc, &mut gt, &mut gut);
            assert_eq!(
                bits(&gvt),
                bits(&gv),
                "{variant:?} traced backward, parameters"
            );
            assert_eq!(bits(&gut), bits(&gu), "{variant:?} traced backward, u");
            for i in 0..m {
                let (f, df) = d.phi_dphi(i, u[i]);
                assert_eq!(phi[i].to_bits(), f.to_bits(), "{variant:?} φ_{i}");
                assert_eq!(dphi[i].to_bits(), df.to_bits(), "{variant:?} φ′_{i}");
                let row = &d.w[i * m..(i + 1) * m];
                let wphi: f64 = (0..m).map(|j| row[j] * d.phi_dphi(j, u[j]).0).sum();
                let want = d.a[i] * u[i] + wphi + d.h[i];
                assert_eq!(y[i].to_bits(), want.to_bits(), "{variant:?} F_{i}");
                let wdx: f64 = (0..m)
                    .map(|j| row[j] * (d.phi_dphi(j, u[j]).1 * x[j]))
                    .sum();
                let want = d.a[i] * x[i] + wdx;
                assert_eq!(jx[i].to_bits(), want.to_bits(), "{variant:?} (J x)_{i}");
            }
        }
    }

    /// L = Σ_i c_i F(u)_i: its gradient from `backward` against central differences in every
    /// parameter and in u, and the Jacobian-vector product against differences of `step`.
    #[test]
    fn step_backward_and_jvp_match_finite_differences() {
        for variant in [Variant::Relu, Variant::Dendritic, Variant::ClippedDendritic] {
            let (m, p) = (4, if variant == Variant::Relu { 0 } else { 3 });
            let v = params(m, p);
            let u = [0.31, -0.72, 0.05, 1.13];
            let c = [0.7, -1.1, 0.4, 0.9];
            let loss = |v: &[f64], u: &[f64]| {
                let d = view(v, variant, m, p);
                let (mut phi, mut y) = (vec![0.0; m], vec![0.0; m]);
                d.step(u, &mut phi, &mut y);
                y.iter().zip(&c).map(|(y, c)| y * c).sum::<f64>()
            };
            let mut gv = vec![0.0; v.len()];
            let mut gu = vec![0.0; m];
            view(&v, variant, m, p).backward(
                &u,
                &c,
                &mut StepScratch::default(),
                &mut DynLayout::new(variant, m, p, 0).grad(&mut gv),
                &mut gu,
            );
            let e = 1e-6;
            for k in 0..v.len() {
                let is_diag = k >= m && k < m + m * m && (k - m) / m == (k - m) % m;
                let (mut hi, mut lo) = (v.clone(), v.clone());
                hi[k] += e;
                lo[k] -= e;
                let fd = if is_diag {
                    0.0
                } else {
                    (loss(&hi, &u) - loss(&lo, &u)) / (2.0 * e)
                };
                assert!(
                    (fd - gv[k]).abs() < 1e-7,
                    "{variant:?} param {k}: {fd} vs {}",
                    gv[k]
                );
            }
            let d = view(&v, variant, m, p);
            for j in 0..m {
                let (mut hi, mut lo) = (u, u);
                hi[j] += e;
                lo[j] -= e;
                let fd = (loss(&v, &hi) - loss(&v, &lo)) / (2.0 * e);
                assert!(
                    (fd - gu[j]).abs() < 1e-7,
                    "{variant:?} u {j}: {fd} vs {}",
                    gu[j]
                );
                // J e_j: column j of the Jacobian.
                let mut ej = [0.0; 4];
                ej[j] = 1.0;
                let mut col = [0.0; 4];
                d.jvp(&u, &ej, &mut [0.0; 4], &mut col);
                let (mut phi, mut yh, mut yl) = (vec![0.0; m], vec![0.0; m], vec![0.0; m]);
                d.step(&hi, &mut phi, &mut yh);
                d.step(&lo, &mut phi, &mut yl);
                for i in 0..m {
                    let fd = (yh[i] - yl[i]) / (2.0 * e);
                    assert!((fd - col[i]).abs() < 1e-7, "{variant:?} J[{i}][{j}]");
                }
            }
        }
    }

    /// The forcing rule: exact copies of the target on forcing steps, the mix between them,
    /// the unforced latents untouched; and its backward pass is the transpose of the forward
    /// map (⟨g, ∂z̃⟩ = ⟨backward(g), ∂(y, d)⟩ for any perturbation, the map being linear).
    #[test]
    fn forcing_rule_and_its_transpose() {
        let f = Forcing {
            alpha: 0.25,
            interval: 3,
            forced: 2,
        };
        let (y, d) = ([1.0, -2.0, 5.0], [0.5, 4.0, 9.0]);
        let mut out = [0.0; 3];
        f.force(3, &y, &d, &mut out);
        assert_eq!(out, [0.5, 4.0, 5.0]);
        f.force(4, &y, &d, &mut out);
        assert_eq!(out, [0.875, -0.5, 5.0]);
        let free = Forcing { forced: 0, ..f };
        free.force(3, &y, &d, &mut out);
        assert_eq!(out, y);
        let gbar = [0.3, -1.1, 0.7];
        for t in [3, 4] {
            let (mut g, mut dd) = ([0.0; 3], [0.0; 3]);
            f.backward(t, &gbar, &mut g, Some(&mut dd));
            let (dy, ddt) = ([0.2, 0.9, -0.4], [-0.6, 0.1, 0.8]);
            let (mut a, mut b) = ([0.0; 3], [0.0; 3]);
            f.force(t, &y, &d, &mut a);
            let yp: Vec<f64> = y.iter().zip(&dy).map(|(u, v)| u + v).collect();
            let dp: Vec<f64> = d.iter().zip(&ddt).map(|(u, v)| u + v).collect();
            f.force(t, &yp, &dp, &mut b);
            let lhs: f64 = (0..3).map(|i| gbar[i] * (b[i] - a[i])).sum();
            let rhs: f64 = (0..3).map(|i| g[i] * dy[i] + dd[i] * ddt[i]).sum();
            assert!((lhs - rhs).abs() < 1e-12, "step {t}: {lhs} vs {rhs}");
        }
    }
}
