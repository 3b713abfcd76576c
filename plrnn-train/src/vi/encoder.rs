//! The recognition model q(z_t | x) = N(μ_t, diag σ_t²), forward and hand-derived backward.
//!
//! Both kinds share a linear part on a per-step input u_t:
//!   μ_t = W_m u_t (+ W2m a_t),  log σ_t = W_s u_t + b_s (+ W2s a_t)
//! `Smoothing` (the reference): u_t = w x_{t−1} + (1−2w) x_t + w x_{t+1}, edges replicated
//! (x_{−1} := x_0, x_T := x_{T−1}), no hidden layer.
//! `Mlp`: u_t = x_t, and a_t = tanh(W1 v_t + b1) with v_t = [x_{t−r}; …; x_{t+r}] (edges
//! replicated) feeds both heads.

use super::config::EncoderKind;
use super::params::Layout;

/// y += a·x. Written over chunks of 4 so that each chunk becomes one vector operation: the
/// plain loop compiled, for 20 elements, to a 16-wide unrolled pass plus 4 scalar iterations
/// with run-time checks around them.
#[inline(always)]
pub(crate) fn axpy(y: &mut [f64], a: f64, x: &[f64]) {
    let (yc, xc) = (y.chunks_exact_mut(4), x.chunks_exact(4));
    for (y4, x4) in yc.zip(xc) {
        for q in 0..4 {
            y4[q] += a * x4[q];
        }
    }
    let n4 = y.len().min(x.len()) / 4 * 4;
    for (yi, xi) in y[n4..].iter_mut().zip(&x[n4..]) {
        *yi += a * xi;
    }
}

/// Row-major r×c → c×r.
pub(crate) fn transpose(a: &[f64], r: usize, c: usize) -> Vec<f64> {
    let mut t = vec![0.0; r * c];
    for i in 0..r {
        for j in 0..c {
            t[j * r + i] = a[i * c + j];
        }
    }
    t
}

/// Read-only view of encoder parameters, shared by training (flat vector) and [`super::TrainedModel`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct EncView<'a> {
    pub kind: EncoderKind,
    pub m: usize,
    pub n: usize,
    pub hidden: usize,
    pub window: usize,
    pub smooth: f64,
    pub wm: &'a [f64],
    pub ws: &'a [f64],
    pub bs: &'a [f64],
    pub w1: &'a [f64],
    pub b1: &'a [f64],
    pub w2m: &'a [f64],
    pub w2s: &'a [f64],
}

impl<'a> EncView<'a> {
    /// The encoder blocks of a flat parameter vector.
    pub fn from_flat(l: &Layout, v: &'a [f64]) -> Self {
        Self {
            kind: l.encoder,
            m: l.core.m,
            n: l.n,
            hidden: l.hidden,
            window: l.window,
            smooth: v[l.enc_smooth.clone()].first().copied().unwrap_or(0.0),
            wm: &v[l.enc_wm.clone()],
            ws: &v[l.enc_ws.clone()],
            bs: &v[l.enc_bs.clone()],
            w1: &v[l.enc_w1.clone()],
            b1: &v[l.enc_b1.clone()],
            w2m: &v[l.enc_w2m.clone()],
            w2s: &v[l.enc_w2s.clone()],
        }
    }

    fn clamp_row(t: isize, len: usize) -> usize {
        t.clamp(0, len as isize - 1) as usize
    }

    /// Computes μ and log σ (each T×M) for observations `x` (T×N). `u` (T×N) and `act` (T×H)
    /// receive intermediate values needed by [`EncView::backward`].
    #[inline(always)] // into the AVX2 copy of the loss (see `elbo::loss_grad`)
    pub fn forward(
        &self,
        x: &[f64],
        mu: &mut [f64],
        logsd: &mut [f64],
        u: &mut [f64],
        act: &mut [f64],
    ) {
        self.inputs(x, u);
        self.linear(x.len() / self.n, u, mu, logsd);
        if self.kind == EncoderKind::Mlp {
            self.mlp_forward(x, mu, logsd, act);
        }
    }

    /// The per-step input u_t of the linear heads (T×N) for observations `x` (T×N).
    #[inline(always)] // into the AVX2 copy of the loss (see `elbo::loss_grad`)
    pub fn inputs(&self, x: &[f64], u: &mut [f64]) {
        let n = self.n;
        let len = x.len() / n;
        match self.kind {
            EncoderKind::Smoothing => {
                let w = self.smooth;
                for t in 0..len {
                    let xp = &x[Self::clamp_row(t as isize - 1, len) * n..][..n];
                    let xc = &x[t * n..][..n];
                    let xn = &x[Self::clamp_row(t as isize + 1, len) * n..][..n];
                    let ut = &mut u[t * n..][..n];
                    for j in 0..n {
                        ut[j] = w * xp[j] + (1.0 - 2.0 * w) * xc[j] + w * xn[j];
                    }
                }
            }
            EncoderKind::Mlp => u[..len * n].copy_from_slice(&x[..len * n]),
        }
    }

    /// The linear heads, overwriting μ and log σ: μ_t = Wm u_t, log σ_t = Ws u_t + b_s. (The
    /// loss computes the same in vector lanes with fused multiply-adds, see `elbo`.)
    fn linear(&self, len: usize, u: &[f64], mu: &mut [f64], logsd: &mut [f64]) {
        let (m, n) = (self.m, self.n);
        // μ_t = Σ_j u_tj Wm_·j: an axpy over the latent index per channel (vectorises).
        let (wmt, wst) = (transpose(self.wm, m, n), transpose(self.ws, m, n));
        for ((ut, mt), st) in u[..len * n]
            .chunks_exact(n)
            .zip(mu[..len * m].chunks_exact_mut(m))
            .zip(logsd[..len * m].chunks_exact_mut(m))
        {
            mt.iter_mut().for_each(|v| *v = 0.0);
            st.copy_from_slice(&self.bs[..m]);
            for ((&uj, wmj), wsj) in ut.iter().zip(wmt.chunks_exact(m)).zip(wst.chunks_exact(m)) {
                axpy(mt, uj, wmj);
                axpy(st, uj, wsj);
            }
        }
    }

    /// The MLP encoder's hidden layer: adds W2m a_t to μ_t and W2s a_t to log σ_t, and stores
    /// a_t in `act` (T×H) for [`EncView::backward`].
    #[inline(always)] // into the AVX2 copy of the loss (see `elbo::loss_grad`)
    pub fn mlp_forward(&self, x: &[f64], mu: &mut [f64], logsd: &mut [f64], act: &mut [f64]) {
        let (m, n, hdim) = (self.m, self.n, self.hidden);
        let len = x.len() / n;
        let r = self.window as isize;
        let d = (2 * self.window + 1) * n;
        for t in 0..len {
            let at = &mut act[t * hdim..][..hdim];
            at.copy_from_slice(self.b1);
            for (o, off) in (-r..=r).enumerate() {
                let xr = &x[Self::clamp_row(t as isize + off, len) * n..][..n];
                for hh in 0..hdim {
                    let w1r = &self.w1[hh * d + o * n..][..n];
                    let mut acc = 0.0;
                    for j in 0..n {
                        acc += w1r[j] * xr[j];
                    }
                    at[hh] += acc;
                }
            }
            at.iter_mut().for_each(|v| *v = v.tanh());
            let mt = &mut mu[t * m..][..m];
            let st = &mut logsd[t * m..][..m];
            for i in 0..m {
                let (w2mi, w2si) = (&self.w2m[i * hdim..][..hdim], &self.w2s[i * hdim..][..hdim]);
                let mut am = 0.0;
                let mut asd = 0.0;
                for hh in 0..hdim {
                    am += w2mi[hh] * at[hh];
                    asd += w2si[hh] * at[hh];
                }
                mt[i] += am;
                st[i] += asd;
            }
        }
    }

    /// Accumulates into `g` (flat gradient, laid out by `l`) the gradient of the loss given
    /// dL/dμ and dL/d log σ (each T×M). `da` is T×H scratch. The linear heads' sums over t come
    /// precomputed (the loss accumulates them in its vector lanes): `heads.0` holds rows of
    /// stride `heads.1`, each starting with M values: rows j < N: Σ_t dμ_t u_tj; rows N + j:
    /// Σ_t dℓ_t u_tj; row 2N: Σ_t dℓ_t; for `Smoothing` also rows 2N+1+j: Σ_t dμ_t Δ_tj and
    /// 3N+1+j: Σ_t dℓ_t Δ_tj, with Δ_t = x_{t−1} − 2x_t + x_{t+1} (edges replicated).
    ///
    /// Derivation: μ_ti = Σ_j Wm_ij u_tj (+ Σ_h W2m_ih a_th) ⇒ dWm_ij = Σ_t dμ_ti u_tj,
    /// du_tj = Σ_i (Wm_ij dμ_ti + Ws_ij dℓ_ti); same for the log σ head (ℓ) plus db_s = Σ_t dℓ_t.
    /// Smoothing: u_t = x_t + w (x_{t−1} − 2x_t + x_{t+1}) ⇒ dw = Σ_t du_t · (x_{t−1} − 2x_t + x_{t+1})
    /// = Σ_ij Wm_ij Σ_t dμ_ti Δ_tj + Ws_ij Σ_t dℓ_ti Δ_tj (x unlearned: no further chain).
    /// MLP: a = tanh(pre) ⇒ dpre = da (1 − a²), dW1 = Σ_t dpre_t v_tᵀ,
    /// db1 = Σ_t dpre_t, da_t = W2mᵀ dμ_t + W2sᵀ dℓ_t.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)] // into the AVX2 copy of the loss (see `elbo::loss_grad`)
    pub fn backward(
        &self,
        l: &Layout,
        x: &[f64],
        act: &[f64],
        dmu: &[f64],
        dlogsd: &[f64],
        heads: (&[f64], usize),
        da: &mut [f64],
        g: &mut [f64],
    ) {
        let (m, n, hdim) = (self.m, self.n, self.hidden);
        let len = x.len() / n;
        let (h, stride) = heads;
        let row = |r: usize| &h[r * stride..][..m];
        let mut dsmooth = 0.0;
        for j in 0..n {
            let (gm, gs) = (row(j), row(n + j));
            for i in 0..m {
                g[l.enc_wm.start + i * n + j] += gm[i];
                g[l.enc_ws.start + i * n + j] += gs[i];
            }
            if self.kind == EncoderKind::Smoothing {
                let (dm, ds) = (row(2 * n + 1 + j), row(3 * n + 1 + j));
                for i in 0..m {
                    dsmooth += self.wm[i * n + j] * dm[i] + self.ws[i * n + j] * ds[i];
                }
            }
        }
        for (gb, &s) in g[l.enc_bs.clone()].iter_mut().zip(row(2 * n)) {
            *gb += s;
        }
        match self.kind {
            EncoderKind::Smoothing => g[l.enc_smooth.start] += dsmooth,
            EncoderKind::Mlp => {
                let r = self.window as isize;
                let d = (2 * self.window + 1) * n;
                for t in 0..len {
                    let at = &act[t * hdim..][..hdim];
                    let dat = &mut da[t * hdim..][..hdim];
                    dat.iter_mut().for_each(|v| *v = 0.0);
                    let dm = &dmu[t * m..][..m];
                    let ds = &dlogsd[t * m..][..m];
                    for i in 0..m {
                        let gm = &mut g[l.enc_w2m.start + i * hdim..][..hdim];
                        for hh in 0..hdim {
                            gm[hh] += dm[i] * at[hh];
                        }
                        let gs = &mut g[l.enc_w2s.start + i * hdim..][..hdim];
                        for hh in 0..hdim {
                            gs[hh] += ds[i] * at[hh];
                        }
                        let (w2mi, w2si) =
                            (&self.w2m[i * hdim..][..hdim], &self.w2s[i * hdim..][..hdim]);
                        for hh in 0..hdim {
                            dat[hh] += w2mi[hh] * dm[i] + w2si[hh] * ds[i];
                        }
                    }
                    for hh in 0..hdim {
                        dat[hh] *= 1.0 - at[hh] * at[hh];
                        g[l.enc_b1.start + hh] += dat[hh];
                    }
                    for (o, off) in (-r..=r).enumerate() {
                        let xr = &x[Self::clamp_row(t as isize + off, len) * n..][..n];
                        for hh in 0..hdim {
                            let g1 = &mut g[l.enc_w1.start + hh * d + o * n..][..n];
                            for j in 0..n {
                                g1[j] += dat[hh] * xr[j];
                            }
                        }
                    }
                }
            }
        }
    }
}
