//! The model: parameters, their validation, and the two ways to hold them: a fixed-size,
//! const-generic [`Model`] for devices and a borrowed, run-time-sized [`ModelRef`] for hosts.

use core::fmt;

use crate::basis::{self, BasisRef, ThetaRef};
use crate::error::{Dim, LoadError, ShapeError};
use crate::step;

/// The basis expansion φ of the latent step (`docs/architecture.md`, "The model").
///
/// With the `serde` feature it (de)serializes as `relu`, `dendritic`, `clipped_dendritic` (the
/// spelling of training configurations and checkpoints; [`Variant::name`] is the CLI's).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum Variant {
    /// φ(z) = max(0, z): the plain PLRNN. α and θ are stored but unused.
    Relu,
    /// φ_i(z) = Σ_b α_b max(0, z_i − θ_ib).
    Dendritic,
    /// φ_i(z) = Σ_b α_b [max(0, z_i − θ_ib) − max(0, z_i)]: bounded, so orbits stay bounded when
    /// every |A_ii| < 1 (see [`Model::clipped_bound`]).
    ClippedDendritic,
}

impl Variant {
    /// The tag stored in the model file header.
    pub const fn tag(self) -> u8 {
        match self {
            Variant::Relu => 0,
            Variant::Dendritic => 1,
            Variant::ClippedDendritic => 2,
        }
    }

    /// The variant for a header tag.
    pub const fn from_tag(tag: u8) -> Result<Self, LoadError> {
        match tag {
            0 => Ok(Variant::Relu),
            1 => Ok(Variant::Dendritic),
            2 => Ok(Variant::ClippedDendritic),
            _ => Err(LoadError::UnknownVariant { tag }),
        }
    }

    /// The lower-case name used by the CLI and config files.
    pub const fn name(self) -> &'static str {
        match self {
            Variant::Relu => "relu",
            Variant::Dendritic => "dendritic",
            Variant::ClippedDendritic => "clipped-dendritic",
        }
    }
}

impl fmt::Display for Variant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A parameter block of the model, in file order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Param {
    /// A: diagonal of the linear part (M).
    A,
    /// W: M×M coupling of φ(z), zero diagonal, row-major.
    W,
    /// h: bias (M).
    H,
    /// α: basis weights shared by all units (P).
    Alpha,
    /// θ: basis thresholds, M×P row-major.
    Theta,
    /// C: input matrix, M×K row-major.
    C,
    /// B: observation matrix, N×M row-major.
    B,
    /// σ_z: process-noise scales (M), positive.
    SigmaZ,
    /// σ_x: observation-noise scales (N), positive.
    SigmaX,
    /// Mean of the training data per channel (N); maps model units back to data units.
    DataMean,
    /// Standard deviation of the training data per channel (N), positive.
    DataStd,
}

impl Param {
    /// All blocks in the order they appear in the model file.
    pub const ALL: [Param; 11] = [
        Param::A,
        Param::W,
        Param::H,
        Param::Alpha,
        Param::Theta,
        Param::C,
        Param::B,
        Param::SigmaZ,
        Param::SigmaX,
        Param::DataMean,
        Param::DataStd,
    ];

    /// Number of values of this block for a model of dimensions `d`.
    pub const fn len(self, d: Dims) -> usize {
        match self {
            Param::A | Param::H | Param::SigmaZ => d.m,
            Param::W => d.m * d.m,
            Param::Alpha => d.p,
            Param::Theta => d.m * d.p,
            Param::C => d.m * d.k,
            Param::B => d.n * d.m,
            Param::SigmaX | Param::DataMean | Param::DataStd => d.n,
        }
    }

    /// The name used in messages.
    pub const fn name(self) -> &'static str {
        match self {
            Param::A => "A",
            Param::W => "W",
            Param::H => "h",
            Param::Alpha => "alpha",
            Param::Theta => "theta",
            Param::C => "C",
            Param::B => "B",
            Param::SigmaZ => "sigma_z",
            Param::SigmaX => "sigma_x",
            Param::DataMean => "data_mean",
            Param::DataStd => "data_std",
        }
    }

    /// Checks one value of this block: finite; positive for scales; zero on W's diagonal.
    pub(crate) fn check(self, d: Dims, index: usize, v: f32) -> Result<(), LoadError> {
        if !v.is_finite() {
            return Err(LoadError::NonFinite { param: self, index });
        }
        match self {
            Param::SigmaZ | Param::SigmaX | Param::DataStd if v <= 0.0 => {
                Err(LoadError::NonPositiveScale { param: self, index })
            }
            Param::W if d.m > 0 && index / d.m == index % d.m && v != 0.0 => {
                Err(LoadError::NonZeroDiagonal { index: index / d.m })
            }
            _ => Ok(()),
        }
    }
}

impl fmt::Display for Param {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Model sizes: latent M, observed N, bases P, inputs K.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Dims {
    /// Latent size M (≥ 1).
    pub m: usize,
    /// Observation size N (≥ 1).
    pub n: usize,
    /// Number of basis functions P (≥ 0).
    pub p: usize,
    /// External input size K (≥ 0).
    pub k: usize,
}

impl Dims {
    /// Total number of f32 values in all parameter blocks.
    pub const fn param_count(self) -> usize {
        let mut total = 0;
        let mut i = 0;
        while i < Param::ALL.len() {
            total += Param::ALL[i].len(self);
            i += 1;
        }
        total
    }

    /// Multiply-adds of one deterministic step (latent update and observation): the W φ
    /// product (M²), the basis expansion (M·P, none for `Relu`), A∘z (M), C s (M·K), B z (N·M).
    pub const fn macs_per_step(self, variant: Variant) -> usize {
        let basis = match variant {
            Variant::Relu => 0,
            _ => self.m * self.p,
        };
        self.m * self.m + basis + self.m + self.m * self.k + self.n * self.m
    }
}

/// Borrowed parameter blocks, row-major, in file order, except θ: a model keeps its thresholds
/// sorted per unit for the step (module `basis`), so θ is read one value at a time through
/// [`ModelRef::theta`] (or [`Model::theta`]).
#[derive(Clone, Copy, Debug)]
pub struct ParamsRef<'a> {
    /// A (M).
    pub a: &'a [f32],
    /// W (M×M, zero diagonal).
    pub w: &'a [f32],
    /// h (M).
    pub h: &'a [f32],
    /// α (P).
    pub alpha: &'a [f32],
    /// C (M×K).
    pub c: &'a [f32],
    /// B (N×M).
    pub b: &'a [f32],
    /// σ_z (M).
    pub sigma_z: &'a [f32],
    /// σ_x (N).
    pub sigma_x: &'a [f32],
    /// Data mean per channel (N).
    pub data_mean: &'a [f32],
    /// Data standard deviation per channel (N).
    pub data_std: &'a [f32],
}

impl<'a> ParamsRef<'a> {
    /// The block named by `p`; `None` for [`Param::Theta`], which is not held as a slice.
    pub const fn block(&self, p: Param) -> Option<&'a [f32]> {
        Some(match p {
            Param::A => self.a,
            Param::W => self.w,
            Param::H => self.h,
            Param::Alpha => self.alpha,
            Param::Theta => return None,
            Param::C => self.c,
            Param::B => self.b,
            Param::SigmaZ => self.sigma_z,
            Param::SigmaX => self.sigma_x,
            Param::DataMean => self.data_mean,
            Param::DataStd => self.data_std,
        })
    }
}

/// Checks sizes and values of a model's blocks (finite, positive scales, zero W diagonal, M and
/// N ≥ 1): the checks of the file format.
pub(crate) fn validate(dims: Dims, params: &ParamsRef<'_>, theta: &[f32]) -> Result<(), LoadError> {
    if dims.m == 0 {
        return Err(LoadError::ZeroDimension { dim: Dim::M });
    }
    if dims.n == 0 {
        return Err(LoadError::ZeroDimension { dim: Dim::N });
    }
    for p in Param::ALL {
        let block = params.block(p).unwrap_or(theta);
        if block.len() != p.len(dims) {
            return Err(LoadError::DimensionMismatch {
                dim: block_dim(p),
                expected: p.len(dims),
                found: block.len(),
            });
        }
        for (i, &v) in block.iter().enumerate() {
            p.check(dims, i, v)?;
        }
    }
    Ok(())
}

/// A validated model of run-time size, borrowing its parameters and its basis tables. Holding
/// one proves the sizes are consistent, every value passed the checks of the file format and the
/// tables belong to the parameters; stepping it cannot fail except through a caller buffer of the
/// wrong length, which the step functions report.
///
/// Obtained from a [`Model`] ([`Model::as_model_ref`]) or, with the `alloc` feature, from a
/// `ValidModel` (`ValidModel::model_ref`); both give bit-identical steps.
#[derive(Clone, Copy, Debug)]
pub struct ModelRef<'a> {
    variant: Variant,
    dims: Dims,
    normalized: bool,
    p: ParamsRef<'a>,
    theta: ThetaRef<'a>,
    basis: BasisRef<'a>,
}

impl<'a> ModelRef<'a> {
    /// Built by a storage type whose construction validated everything and built the tables.
    pub(crate) const fn trusted(
        variant: Variant,
        dims: Dims,
        normalized: bool,
        p: ParamsRef<'a>,
        theta: ThetaRef<'a>,
        basis: BasisRef<'a>,
    ) -> Self {
        Self {
            variant,
            dims,
            normalized,
            p,
            theta,
            basis,
        }
    }

    /// The φ variant.
    pub const fn variant(&self) -> Variant {
        self.variant
    }

    /// The sizes.
    pub const fn dims(&self) -> Dims {
        self.dims
    }

    /// Whether the model was trained on z-scored data whose statistics are
    /// [`ParamsRef::data_mean`] and [`ParamsRef::data_std`].
    pub const fn normalized(&self) -> bool {
        self.normalized
    }

    /// The parameter blocks other than θ.
    pub const fn params(&self) -> ParamsRef<'a> {
        self.p
    }

    /// θ at row-major index `i` (`θ[i / P][i % P]`, the file's order), exactly as loaded; `None`
    /// past the end.
    pub fn theta(&self, i: usize) -> Option<f32> {
        self.theta.get(i)
    }

    pub(crate) const fn theta_ref(&self) -> ThetaRef<'a> {
        self.theta
    }

    pub(crate) const fn basis(&self) -> BasisRef<'a> {
        self.basis
    }

    /// One deterministic latent step z_next = A∘z + W φ(z) + h + C s, through the same kernel
    /// as [`Model::latent_step`] (bit-identical results). `scratch` holds φ(z) (length M).
    pub fn latent_step(
        &self,
        z: &[f32],
        s: &[f32],
        scratch: &mut [f32],
        z_next: &mut [f32],
    ) -> Result<(), ShapeError> {
        let d = self.dims;
        ShapeError::check(Dim::M, d.m, z.len())?;
        ShapeError::check(Dim::K, d.k, s.len())?;
        ShapeError::check(Dim::M, d.m, scratch.len())?;
        ShapeError::check(Dim::M, d.m, z_next.len())?;
        step::latent(self, z, s, scratch, z_next);
        Ok(())
    }

    /// The observation x = B z (no noise), through the shared kernel.
    pub fn observe(&self, z: &[f32], x: &mut [f32]) -> Result<(), ShapeError> {
        ShapeError::check(Dim::M, self.dims.m, z.len())?;
        ShapeError::check(Dim::N, self.dims.n, x.len())?;
        step::observe(self, z, x);
        Ok(())
    }
}

/// The dimension a block's length is checked against in error messages.
const fn block_dim(p: Param) -> Dim {
    match p {
        Param::Alpha => Dim::P,
        Param::Theta => Dim::P,
        Param::C => Dim::K,
        Param::B | Param::SigmaX | Param::DataMean | Param::DataStd => Dim::N,
        _ => Dim::M,
    }
}

/// A model with sizes fixed at compile time: plain arrays, no heap. M latent units,
/// N observations, P bases (at most 256, checked at compile time), K inputs.
///
/// θ is not stored as given: each unit's thresholds are kept sorted, as order-preserving integer
/// keys, with each threshold's rank (one byte) to give the file's order back exactly, next to
/// the prefix sums the step evaluates the basis with (module `basis`). That is
/// M·P·(4 + 1 + 8) bytes for θ and its tables, against M·P·4 for θ alone; [`Model::theta`]
/// returns θ exactly as loaded.
///
/// Fields are private: every `Model` was either built by [`Model::new_zeroed`], validated by
/// [`Model::from_params`], or decoded by [`Model::decode_into`], so stepping it cannot fail.
/// A large model belongs in static or caller-provided storage, not on a small stack: create it
/// once (e.g. in a `static` cell) and decode into it.
#[derive(Clone, Debug, PartialEq)]
pub struct Model<const M: usize, const N: usize, const P: usize, const K: usize> {
    pub(crate) variant: Variant,
    pub(crate) normalized: bool,
    pub(crate) a: [f32; M],
    pub(crate) w: [[f32; M]; M],
    pub(crate) h: [f32; M],
    pub(crate) alpha: [f32; P],
    /// θ of each row as sorted `basis::key`s.
    pub(crate) keys: [[u32; P]; M],
    /// `rank[j][b]`: the position of θ_jb in `keys[j]`.
    pub(crate) rank: [[u8; P]; M],
    /// `pairs[j][k − 1]` = (S_j[k], O_j[k]), k = 1..=P (module `basis`).
    pub(crate) pairs: [[[f32; 2]; P]; M],
    pub(crate) c: [[f32; K]; M],
    pub(crate) b: [[f32; M]; N],
    pub(crate) sigma_z: [f32; M],
    pub(crate) sigma_x: [f32; N],
    pub(crate) data_mean: [f32; N],
    pub(crate) data_std: [f32; N],
}

/// Parameter arrays for [`Model::from_params`].
#[derive(Clone, Debug, PartialEq)]
pub struct ModelParams<const M: usize, const N: usize, const P: usize, const K: usize> {
    /// A (diagonal of the linear part).
    pub a: [f32; M],
    /// W, rows are outputs (`w[i][j]` couples φ_j into z_i); diagonal must be zero.
    pub w: [[f32; M]; M],
    /// h.
    pub h: [f32; M],
    /// α.
    pub alpha: [f32; P],
    /// θ, `theta[i][b]`.
    pub theta: [[f32; P]; M],
    /// C, `c[i][k]`.
    pub c: [[f32; K]; M],
    /// B, `b[n][i]`.
    pub b: [[f32; M]; N],
    /// σ_z.
    pub sigma_z: [f32; M],
    /// σ_x.
    pub sigma_x: [f32; N],
}

impl<const M: usize, const N: usize, const P: usize, const K: usize> Model<M, N, P, K> {
    /// The sizes of this model type.
    pub const DIMS: Dims = Dims {
        m: M,
        n: N,
        p: P,
        k: K,
    };

    /// Ranks are stored in one byte.
    const P_FITS: () = assert!(
        P <= 256,
        "plrnn_nostd::Model supports at most 256 bases (P)"
    );

    /// A valid model with every weight zero, unit noise scales and identity data statistics:
    /// the storage to decode a file into. `const`, so it can initialise a `static`.
    pub const fn new_zeroed() -> Self {
        #[allow(clippy::let_unit_value)]
        let () = Self::P_FITS;
        let mut rank = [0u8; P];
        let mut i = 0;
        while i < P {
            rank[i] = i as u8;
            i += 1;
        }
        Self {
            variant: Variant::Relu,
            normalized: false,
            a: [0.0; M],
            w: [[0.0; M]; M],
            h: [0.0; M],
            alpha: [0.0; P],
            keys: [[basis::key(0.0); P]; M],
            rank: [rank; M],
            pairs: [[[0.0; 2]; P]; M],
            c: [[0.0; K]; M],
            b: [[0.0; M]; N],
            sigma_z: [1.0; M],
            sigma_x: [1.0; N],
            data_mean: [0.0; N],
            data_std: [1.0; N],
        }
    }

    /// Validates `params` (finite, positive σ, zero W diagonal, M and N ≥ 1) into a model in
    /// model units (no data statistics).
    pub fn from_params(
        variant: Variant,
        params: ModelParams<M, N, P, K>,
    ) -> Result<Self, LoadError> {
        let mut m = Self::new_zeroed();
        m.variant = variant;
        m.a = params.a;
        m.w = params.w;
        m.h = params.h;
        m.alpha = params.alpha;
        m.c = params.c;
        m.b = params.b;
        m.sigma_z = params.sigma_z;
        m.sigma_x = params.sigma_x;
        validate(Self::DIMS, &m.params_ref(), params.theta.as_flattened())?;
        for (pr, th) in m.pairs.iter_mut().zip(&params.theta) {
            for (p, &t) in pr.iter_mut().zip(th) {
                p[0] = t;
            }
        }
        m.build_tables();
        Ok(m)
    }

    /// Sorts θ and computes the prefix sums. On entry `pairs[j][b][0]` holds θ_jb.
    pub(crate) fn build_tables(&mut self) {
        for ((kr, rr), pr) in self
            .keys
            .iter_mut()
            .zip(&mut self.rank)
            .zip(&mut self.pairs)
        {
            basis::build_row_in_place(&self.alpha, kr, rr, pr);
        }
    }

    /// Attaches the training data's per-channel mean and standard deviation (validated), so that
    /// [`Model::to_data_units`] maps observations back.
    pub fn with_data_stats(mut self, mean: [f32; N], std: [f32; N]) -> Result<Self, LoadError> {
        for (i, &v) in mean.iter().enumerate() {
            Param::DataMean.check(Self::DIMS, i, v)?;
        }
        for (i, &v) in std.iter().enumerate() {
            Param::DataStd.check(Self::DIMS, i, v)?;
        }
        self.data_mean = mean;
        self.data_std = std;
        self.normalized = true;
        Ok(self)
    }

    pub(crate) fn params_ref(&self) -> ParamsRef<'_> {
        ParamsRef {
            a: &self.a,
            w: self.w.as_flattened(),
            h: &self.h,
            alpha: &self.alpha,
            c: self.c.as_flattened(),
            b: self.b.as_flattened(),
            sigma_z: &self.sigma_z,
            sigma_x: &self.sigma_x,
            data_mean: &self.data_mean,
            data_std: &self.data_std,
        }
    }

    /// The same model as a run-time-sized view (no copy).
    pub fn as_model_ref(&self) -> ModelRef<'_> {
        ModelRef::trusted(
            self.variant,
            Self::DIMS,
            self.normalized,
            self.params_ref(),
            ThetaRef::Ranked {
                keys: self.keys.as_flattened(),
                rank: self.rank.as_flattened(),
                p: P,
            },
            BasisRef {
                keys: self.keys.as_flattened(),
                pairs: self.pairs.as_flattened(),
            },
        )
    }

    /// The φ variant.
    pub const fn variant(&self) -> Variant {
        self.variant
    }

    /// Whether data statistics are attached (the model works in z-scored units).
    pub const fn normalized(&self) -> bool {
        self.normalized
    }

    /// A (diagonal).
    pub const fn a(&self) -> &[f32; M] {
        &self.a
    }

    /// W.
    pub const fn w(&self) -> &[[f32; M]; M] {
        &self.w
    }

    /// h.
    pub const fn h(&self) -> &[f32; M] {
        &self.h
    }

    /// α.
    pub const fn alpha(&self) -> &[f32; P] {
        &self.alpha
    }

    /// θ, `theta[i][b]`, exactly as loaded (rebuilt from the sorted storage, hence by value).
    pub fn theta(&self) -> [[f32; P]; M] {
        let mut out = [[0.0f32; P]; M];
        for ((o, kr), rr) in out.iter_mut().zip(&self.keys).zip(&self.rank) {
            for (v, &r) in o.iter_mut().zip(rr) {
                *v = kr.get(r as usize).map_or(0.0, |&k| basis::from_key(k));
            }
        }
        out
    }

    /// C.
    pub const fn c(&self) -> &[[f32; K]; M] {
        &self.c
    }

    /// B.
    pub const fn b(&self) -> &[[f32; M]; N] {
        &self.b
    }

    /// σ_z.
    pub const fn sigma_z(&self) -> &[f32; M] {
        &self.sigma_z
    }

    /// σ_x.
    pub const fn sigma_x(&self) -> &[f32; N] {
        &self.sigma_x
    }

    /// Data mean per channel.
    pub const fn data_mean(&self) -> &[f32; N] {
        &self.data_mean
    }

    /// Data standard deviation per channel.
    pub const fn data_std(&self) -> &[f32; N] {
        &self.data_std
    }

    /// One deterministic latent step z_next = A∘z + W φ(z) + h + C s.
    #[inline]
    pub fn latent_step(&self, z: &[f32; M], s: &[f32; K], z_next: &mut [f32; M]) {
        let mut phi = [0.0f32; M];
        step::latent(&self.as_model_ref(), z, s, &mut phi, z_next);
    }

    /// The noiseless observation x = B z.
    #[inline]
    pub fn observe(&self, z: &[f32; M], x: &mut [f32; N]) {
        step::observe(&self.as_model_ref(), z, x);
    }

    /// Maps an observation from model units back to data units: x · std + mean (identity when
    /// no data statistics are attached).
    pub fn to_data_units(&self, x: &mut [f32; N]) {
        for ((v, &s), &m) in x.iter_mut().zip(&self.data_std).zip(&self.data_mean) {
            *v = *v * s + m;
        }
    }

    /// For `ClippedDendritic` models with every |A_ii| < 1: per-unit radii R with
    /// R_i = (Σ_j |W_ij| Φ_j + |h_i| + Σ_k |C_ik| s_max) / (1 − |A_ii|), Φ_j = Σ_b |α_b||θ_jb|,
    /// where `s_max` bounds every |s_k|. In exact arithmetic a noiseless orbit satisfies
    /// |z_t,i| ≤ max(|z_0,i|, R_i) for all t (and enters any neighbourhood of [−R_i, R_i]):
    /// |φ_j| ≤ Φ_j because each clipped basis term lies between 0 and −θ_jb.
    /// Returns `None` for other variants or when some |A_ii| ≥ 1. Computed in f32.
    ///
    /// **Rounding margin.** The computed orbit obeys the same bound with R_i inflated to
    /// R̂_i = (1 + γ)(X_i + E_i) / (1 − |A_ii|(1 + γ)), where X_i is the numerator above,
    /// γ = n u / (1 − n u) with n = M + K + 2 and u = 2⁻²⁴, and
    /// E_i = c u Σ_j |W_ij| (Θ_j Σ_b |α_b| + Φ_j) with Θ_j = max_b |θ_jb| and c = 2P + 1 to
    /// first order (`tests/dynamics.rs` takes 2(2P + 1)) bounds the rounding of the
    /// table-evaluated φ_j (its slope is exactly 0 beyond the thresholds and its value 0 below,
    /// so the bound holds for every z). To first order R̂_i / R_i − 1 ≈ γ/(1 − |A_ii|) + E_i/X_i:
    /// not a few ulps when |A_ii| is close to 1 (for M = 8, K = 1, |A_ii| = 0.999 the first term
    /// is 6.6·10⁻⁴). `tests/dynamics.rs` checks orbits against R̂ computed this way.
    pub fn clipped_bound(&self, s_max: f32) -> Option<[f32; M]> {
        if self.variant != Variant::ClippedDendritic {
            return None;
        }
        let mut phi_max = [0.0f32; M];
        for ((pm, kr), rr) in phi_max.iter_mut().zip(&self.keys).zip(&self.rank) {
            // θ_jb in file order b, as before the sorted storage: Σ_b |α_b||θ_jb|.
            *pm = self
                .alpha
                .iter()
                .zip(rr)
                .map(|(a, &r)| {
                    let t = kr.get(r as usize).map_or(0.0, |&k| basis::from_key(k));
                    libm::fabsf(*a) * libm::fabsf(t)
                })
                .sum();
        }
        let mut r = [0.0f32; M];
        let rows = r
            .iter_mut()
            .zip(&self.a)
            .zip(&self.w)
            .zip(&self.h)
            .zip(&self.c);
        for ((((ri, &ai), wr), &hi), cr) in rows {
            let a = libm::fabsf(ai);
            if a >= 1.0 {
                return None;
            }
            let coupling: f32 = wr
                .iter()
                .zip(&phi_max)
                .map(|(w, p)| libm::fabsf(*w) * p)
                .sum();
            let input: f32 = cr.iter().map(|c| libm::fabsf(*c) * s_max).sum();
            *ri = (coupling + libm::fabsf(hi) + input) / (1.0 - a);
        }
        Some(r)
    }
}
