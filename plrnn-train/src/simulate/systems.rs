//! The benchmark systems: their vector fields, Jacobians, standard parameters, names and
//! sampling defaults. Integration, noise and the Lyapunov estimate live in the parent module.

use std::fmt;
use std::str::FromStr;

use rand::RngExt;
use rand_distr::StandardNormal;
use rand_xoshiro::Xoshiro256PlusPlus;
use serde::{Deserialize, Serialize};

use super::SimError;

/// A benchmark system, with its parameters.
///
/// Every system is an autonomous ODE ẋ = f(x) whose whole state is the simulated series (one
/// channel per state variable, in the order of the equations below). Each has a constructor
/// with its standard parameters (named like the system, e.g. [`System::hindmarsh_rose`]), a
/// snake_case [`name`](System::name) that [`FromStr`] parses back, and sampling defaults
/// ([`default_dt`](System::default_dt), [`default_transient_time`](System::default_transient_time))
/// chosen so that [`SimOptions::for_system`](super::SimOptions::for_system) with 10 000 steps
/// shows the attractor well sampled. [`System::all`] lists them all.
///
/// Serialised (serde) with a `system` tag holding the snake_case name beside the parameters,
/// e.g. `{"system": "chua", "alpha": 9.0, …}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "system", rename_all = "snake_case")]
pub enum System {
    /// Lorenz (1963): ẋ = σ(y − x), ẏ = x(ρ − z) − y, ż = xy − βz.
    Lorenz63 {
        /// σ (classically 10).
        sigma: f64,
        /// ρ (classically 28).
        rho: f64,
        /// β (classically 8/3).
        beta: f64,
    },
    /// Lorenz (1996): ẋ_i = (x_{i+1} − x_{i−2}) x_{i−1} − x_i + F, indices cyclic.
    Lorenz96 {
        /// Number of variables (≥ 4).
        dim: usize,
        /// Forcing F (8 gives chaos).
        forcing: f64,
    },
    /// Rössler (1976): ẋ = −y − z, ẏ = x + ay, ż = b + z(x − c).
    Rossler {
        /// a (classically 0.2).
        a: f64,
        /// b (classically 0.2).
        b: f64,
        /// c (classically 5.7).
        c: f64,
    },
    /// Hindmarsh–Rose neuron (Hindmarsh & Rose 1984, Proc. R. Soc. Lond. B 221:87–102):
    ///
    /// ẋ = y − a x³ + b x² − z + I,  ẏ = c − d x² − y,  ż = r (s (x − x_R) − z).
    ///
    /// x is the membrane potential, y a fast recovery current, z a slow adaptation current.
    /// Standard values a = 1, b = 3, c = 1, d = 5, s = 4, x_R = −1.6, r = 0.006, I = 3.25 give
    /// chaotic bursting: irregular groups of spikes (about three per burst; in-burst intervals
    /// 12–40 time units) separated by silences of 45–72, the burst rhythm set by the slow z (e.g. Innocenti et al. 2007, Chaos 17:043128, whose (I, r) diagram places
    /// I = 3.25, r = 0.006 in the irregular-bursting region).
    HindmarshRose {
        /// a (1).
        a: f64,
        /// b (3).
        b: f64,
        /// c (1).
        c: f64,
        /// d (5).
        d: f64,
        /// r, the slow time scale (0.006).
        r: f64,
        /// s (4).
        s: f64,
        /// x_R, the resting potential of the slow current (−1.6).
        x_rest: f64,
        /// I, the applied current (3.25).
        current: f64,
    },
    /// FitzHugh–Nagumo neuron (FitzHugh 1961, Biophys. J. 1:445–466; Nagumo et al. 1962):
    ///
    /// v̇ = v − v³/3 − w + I,  ẇ = ε (v + a − b w).
    ///
    /// FitzHugh's values a = 0.7, b = 0.8, ε = 0.08 (his τ = 12.5) with I = 0.5 make the single
    /// fixed point an unstable focus surrounded by a relaxation oscillation (slow drift along
    /// the outer branches of the cubic nullcline, fast jumps between them).
    FitzhughNagumo {
        /// a (0.7).
        a: f64,
        /// b (0.8).
        b: f64,
        /// ε = 1/τ, the recovery time scale (0.08).
        eps: f64,
        /// I, the applied current (0.5).
        current: f64,
    },
    /// Morris–Lecar neuron (Morris & Lecar 1981, Biophys. J. 35:193–213), in the
    /// parameterisation of Rinzel & Ermentrout (1989, "Analysis of neural excitability and
    /// oscillations", in Koch & Segev, Methods in Neuronal Modeling), time in ms, V in mV:
    ///
    /// C V̇ = I − g_L (V − V_L) − g_Ca m∞(V) (V − V_Ca) − g_K w (V − V_K),
    /// ẇ = φ cosh((V − V₃)/(2V₄)) (w∞(V) − w),
    ///
    /// m∞(V) = ½(1 + tanh((V − V₁)/V₂)), w∞(V) = ½(1 + tanh((V − V₃)/V₄)). Their Hopf
    /// ("class II") set: C = 20, g_Ca = 4.4, g_K = 8, g_L = 2, V_Ca = 120, V_K = −84,
    /// V_L = −60, V₁ = −1.2, V₂ = 18, V₃ = 2, V₄ = 30, φ = 0.04; with I = 100 µA/cm² (past the
    /// Hopf bifurcation) the rest state is unstable and the neuron fires periodically.
    MorrisLecar {
        /// Membrane capacitance C (20).
        c_m: f64,
        /// Calcium conductance g_Ca (4.4).
        g_ca: f64,
        /// Potassium conductance g_K (8).
        g_k: f64,
        /// Leak conductance g_L (2).
        g_l: f64,
        /// Calcium reversal V_Ca (120).
        v_ca: f64,
        /// Potassium reversal V_K (−84).
        v_k: f64,
        /// Leak reversal V_L (−60).
        v_l: f64,
        /// V₁ (−1.2).
        v1: f64,
        /// V₂ (18).
        v2: f64,
        /// V₃ (2).
        v3: f64,
        /// V₄ (30).
        v4: f64,
        /// φ (0.04).
        phi: f64,
        /// Applied current I (100).
        current: f64,
    },
    /// Wilson–Cowan excitatory–inhibitory pair (Wilson & Cowan 1972, Biophys. J. 12:1–24),
    /// time in units of the populations' time constant, refractory periods r_e = r_i = 1:
    ///
    /// Ė = −E + (k_e − E) S_e(c₁E − c₂I + P),  İ = −I + (k_i − I) S_i(c₃E − c₄I + Q),
    ///
    /// S(u) = 1/(1 + e^{−a(u − θ)}) − 1/(1 + e^{aθ}) (so S(0) = 0) and k = 1 − 1/(1 + e^{aθ})
    /// its supremum. Their limit-cycle set (Fig. 9 of the paper): c₁ = 16, c₂ = 12, c₃ = 15,
    /// c₄ = 3, a_e = 1.3, θ_e = 4, a_i = 2, θ_i = 3.7, P = 1.25, Q = 0: one unstable fixed point
    /// inside a stable oscillation of both populations.
    WilsonCowan {
        /// c₁, E→E coupling (16).
        c1: f64,
        /// c₂, I→E coupling (12).
        c2: f64,
        /// c₃, E→I coupling (15).
        c3: f64,
        /// c₄, I→I coupling (3).
        c4: f64,
        /// a_e, slope of the excitatory sigmoid (1.3).
        a_e: f64,
        /// θ_e, threshold of the excitatory sigmoid (4).
        theta_e: f64,
        /// a_i, slope of the inhibitory sigmoid (2).
        a_i: f64,
        /// θ_i, threshold of the inhibitory sigmoid (3.7).
        theta_i: f64,
        /// P, external input to the excitatory population (1.25).
        p: f64,
        /// Q, external input to the inhibitory population (0).
        q: f64,
    },
    /// Chua's circuit, dimensionless (Matsumoto 1984, IEEE Trans. Circuits Syst. 31:1055;
    /// Chua, Komuro & Matsumoto 1986, IEEE TCAS 33:1072):
    ///
    /// ẋ = α (y − x − g(x)),  ẏ = x − y + z,  ż = −β y,
    /// g(x) = m₁x + ½(m₀ − m₁)(|x + 1| − |x − 1|).
    ///
    /// The double-scroll values α = 9, β = 100/7, m₀ = −8/7, m₁ = −5/7. Equilibria: the origin
    /// and (±p, 0, ∓p) with p = (m₁ − m₀)/(1 + m₁) = 1.5, the centres of the two scrolls.
    /// Sprott (2003, Chaos and Time-Series Analysis, App. A) lists λ = (0.3271, 0, −2.5197).
    Chua {
        /// α (9).
        alpha: f64,
        /// β (100/7).
        beta: f64,
        /// Inner slope m₀ of the diode characteristic (−8/7).
        m0: f64,
        /// Outer slope m₁ (−5/7).
        m1: f64,
    },
    /// Aizawa (Langford) system (Langford 1984, in Cellular Automata and Nonlinear
    /// Dynamics; the parameter set named after Aizawa, e.g. Cope 2017 and Sprott's
    /// "Elegant Chaos"):
    ///
    /// ẋ = (z − b)x − d y,  ẏ = d x + (z − b) y,
    /// ż = c + a z − z³/3 − (x² + y²)(1 + e z) + f z x³.
    ///
    /// a = 0.95, b = 0.7, c = 0.6, d = 3.5, e = 0.25, f = 0.1: a chaotic, roughly spherical
    /// attractor with a tube along the z axis. Equilibrium: x = y = 0 with c + a z − z³/3 = 0.
    Aizawa {
        /// a (0.95).
        a: f64,
        /// b (0.7).
        b: f64,
        /// c (0.6).
        c: f64,
        /// d (3.5).
        d: f64,
        /// e (0.25).
        e: f64,
        /// f (0.1).
        f: f64,
    },
    /// Forced Duffing oscillator ẍ + δẋ + αx + βx³ = γ cos(ωt), made autonomous by a
    /// phase oscillator that generates the forcing:
    ///
    /// ẋ = y,  ẏ = −δy − αx − βx³ + γu,
    /// u̇ = −ωw + u(1 − u² − w²),  ẇ = ωu + w(1 − u² − w²).
    ///
    /// (u, w) has the unit circle as a stable limit cycle on which u = cos(ωt + φ₀); started on
    /// it (the default start is) it stays there, so the (x, y) channels are the forced
    /// oscillator and (u, w) the forcing's phase. Defaults: Ueda's oscillator (Ueda 1979,
    /// J. Stat. Phys. 20:181) δ = 0.05, α = 0, β = 1, γ = 7.5, ω = 1, the "Japanese
    /// attractor"; Sprott (2003, App. A) lists λ = (0.1034, 0, −0.1534) for the (x, y, t)
    /// flow (the extra radial direction of (u, w) adds an exponent −2).
    Duffing {
        /// δ, damping (0.05).
        delta: f64,
        /// α, linear stiffness (0).
        alpha: f64,
        /// β, cubic stiffness (1).
        beta: f64,
        /// γ, forcing amplitude (7.5).
        gamma: f64,
        /// ω, forcing frequency (1; > 0).
        omega: f64,
    },
    /// Sprott's case B (Sprott 1994, Phys. Rev. E 50:R647, "Some simple chaotic flows"), one
    /// of the algebraically simplest chaotic flows, without parameters:
    ///
    /// ẋ = yz,  ẏ = x − y,  ż = 1 − xy.
    ///
    /// Equilibria (±1, ±1, 0); the paper lists λ_max = 0.210.
    SprottB,
}

/// Every system's snake_case name, in the order of [`System::all`].
pub const SYSTEM_NAMES: [&str; 11] = [
    "lorenz63",
    "lorenz96",
    "rossler",
    "hindmarsh_rose",
    "fitzhugh_nagumo",
    "morris_lecar",
    "wilson_cowan",
    "chua",
    "aizawa",
    "duffing",
    "sprott_b",
];

impl System {
    /// Lorenz-63 with the classical σ = 10, ρ = 28, β = 8/3.
    pub fn lorenz63() -> Self {
        System::Lorenz63 {
            sigma: 10.0,
            rho: 28.0,
            beta: 8.0 / 3.0,
        }
    }

    /// Lorenz-96 with `dim` variables and the chaotic forcing F = 8.
    pub fn lorenz96(dim: usize) -> Self {
        System::Lorenz96 { dim, forcing: 8.0 }
    }

    /// Rössler with the classical a = 0.2, b = 0.2, c = 5.7.
    pub fn rossler() -> Self {
        System::Rossler {
            a: 0.2,
            b: 0.2,
            c: 5.7,
        }
    }

    /// Hindmarsh–Rose in its bursting regime (see [`System::HindmarshRose`]).
    pub fn hindmarsh_rose() -> Self {
        System::HindmarshRose {
            a: 1.0,
            b: 3.0,
            c: 1.0,
            d: 5.0,
            r: 0.006,
            s: 4.0,
            x_rest: -1.6,
            current: 3.25,
        }
    }

    /// FitzHugh–Nagumo with FitzHugh's parameters and I = 0.5 (relaxation oscillation).
    pub fn fitzhugh_nagumo() -> Self {
        System::FitzhughNagumo {
            a: 0.7,
            b: 0.8,
            eps: 0.08,
            current: 0.5,
        }
    }

    /// Morris–Lecar with Rinzel & Ermentrout's Hopf set and I = 100 (periodic firing).
    pub fn morris_lecar() -> Self {
        System::MorrisLecar {
            c_m: 20.0,
            g_ca: 4.4,
            g_k: 8.0,
            g_l: 2.0,
            v_ca: 120.0,
            v_k: -84.0,
            v_l: -60.0,
            v1: -1.2,
            v2: 18.0,
            v3: 2.0,
            v4: 30.0,
            phi: 0.04,
            current: 100.0,
        }
    }

    /// Wilson–Cowan with Wilson & Cowan's limit-cycle set (P = 1.25).
    pub fn wilson_cowan() -> Self {
        System::WilsonCowan {
            c1: 16.0,
            c2: 12.0,
            c3: 15.0,
            c4: 3.0,
            a_e: 1.3,
            theta_e: 4.0,
            a_i: 2.0,
            theta_i: 3.7,
            p: 1.25,
            q: 0.0,
        }
    }

    /// Chua's circuit with the double-scroll parameters α = 9, β = 100/7, m₀ = −8/7,
    /// m₁ = −5/7.
    pub fn chua() -> Self {
        System::Chua {
            alpha: 9.0,
            beta: 100.0 / 7.0,
            m0: -8.0 / 7.0,
            m1: -5.0 / 7.0,
        }
    }

    /// Aizawa with a = 0.95, b = 0.7, c = 0.6, d = 3.5, e = 0.25, f = 0.1.
    pub fn aizawa() -> Self {
        System::Aizawa {
            a: 0.95,
            b: 0.7,
            c: 0.6,
            d: 3.5,
            e: 0.25,
            f: 0.1,
        }
    }

    /// Ueda's chaotic forced Duffing oscillator ẍ + 0.05ẋ + x³ = 7.5 cos t.
    pub fn duffing() -> Self {
        System::Duffing {
            delta: 0.05,
            alpha: 0.0,
            beta: 1.0,
            gamma: 7.5,
            omega: 1.0,
        }
    }

    /// Sprott's case B.
    pub fn sprott_b() -> Self {
        System::SprottB
    }

    /// Every system with its standard parameters (Lorenz-96 with 10 variables), in the order
    /// of [`SYSTEM_NAMES`].
    pub fn all() -> Vec<System> {
        vec![
            System::lorenz63(),
            System::lorenz96(10),
            System::rossler(),
            System::hindmarsh_rose(),
            System::fitzhugh_nagumo(),
            System::morris_lecar(),
            System::wilson_cowan(),
            System::chua(),
            System::aizawa(),
            System::duffing(),
            System::sprott_b(),
        ]
    }

    /// The system called `name` with its standard parameters; the same as `name.parse()`.
    pub fn from_name(name: &str) -> Result<Self, SimError> {
        name.parse()
    }

    /// The canonical snake_case name, as [`FromStr`] accepts it.
    pub fn name(&self) -> &'static str {
        match self {
            System::Lorenz63 { .. } => "lorenz63",
            System::Lorenz96 { .. } => "lorenz96",
            System::Rossler { .. } => "rossler",
            System::HindmarshRose { .. } => "hindmarsh_rose",
            System::FitzhughNagumo { .. } => "fitzhugh_nagumo",
            System::MorrisLecar { .. } => "morris_lecar",
            System::WilsonCowan { .. } => "wilson_cowan",
            System::Chua { .. } => "chua",
            System::Aizawa { .. } => "aizawa",
            System::Duffing { .. } => "duffing",
            System::SprottB => "sprott_b",
        }
    }

    /// Dimension of the state (and of the simulated series).
    pub fn dim(&self) -> usize {
        match self {
            System::Lorenz96 { dim, .. } => *dim,
            System::FitzhughNagumo { .. }
            | System::MorrisLecar { .. }
            | System::WilsonCowan { .. } => 2,
            System::Duffing { .. } => 4,
            _ => 3,
        }
    }

    /// Default time between samples: roughly 50–200 samples per oscillation, spike or
    /// rotation, so that 10 000 samples hold many of them. Lorenz-63 and Lorenz-96: 0.01;
    /// Rössler 0.05; Hindmarsh–Rose 0.1; FitzHugh–Nagumo 0.2; Morris–Lecar 0.5 ms;
    /// Wilson–Cowan 0.1; Chua 0.02; Aizawa 0.02; Duffing 2π/64 (64 samples per forcing
    /// period); Sprott B 0.05.
    pub fn default_dt(&self) -> f64 {
        match self {
            System::Lorenz63 { .. } | System::Lorenz96 { .. } => 0.01,
            System::Rossler { .. } => 0.05,
            System::HindmarshRose { .. } => 0.1,
            System::FitzhughNagumo { .. } => 0.2,
            System::MorrisLecar { .. } => 0.5,
            System::WilsonCowan { .. } => 0.1,
            System::Chua { .. } => 0.02,
            System::Aizawa { .. } => 0.02,
            System::Duffing { omega, .. } => std::f64::consts::TAU / 64.0 / omega.abs().max(1e-9),
            System::SprottB => 0.05,
        }
    }

    /// Default time simulated and dropped before the first sample (in the system's time
    /// units), long enough to forget the random start: 10 for Lorenz-63/96, 100 for most,
    /// 2000 for Hindmarsh–Rose (its slow variable relaxes on 1/r ≈ 170), 1000 ms for
    /// Morris–Lecar, 200 for FitzHugh–Nagumo.
    pub fn default_transient_time(&self) -> f64 {
        match self {
            System::Lorenz63 { .. } | System::Lorenz96 { .. } => 10.0,
            System::HindmarshRose { .. } => 2000.0,
            System::MorrisLecar { .. } => 1000.0,
            System::FitzhughNagumo { .. } => 200.0,
            _ => 100.0,
        }
    }

    /// Largest RK4 step used inside a sample when the number of sub-steps is not given:
    /// 0.001 for Lorenz-63/96 and Rössler (as always), and per system otherwise, each at
    /// least ten times below the fastest time scale on the attractor (checked in the tests by
    /// halving it). Chua's g has kinks at |x| = 1, where a step across the kink errs by O(h³)
    /// instead of RK4's O(h⁵), so its step is 5·10⁻⁴.
    pub fn max_inner_step(&self) -> f64 {
        match self {
            System::Lorenz63 { .. } | System::Lorenz96 { .. } | System::Rossler { .. } => 1e-3,
            System::HindmarshRose { .. } => 0.01,
            System::FitzhughNagumo { .. } => 0.02,
            System::MorrisLecar { .. } => 0.05,
            System::WilsonCowan { .. } => 0.01,
            System::Chua { .. } => 5e-4,
            System::Aizawa { .. } => 0.002,
            System::Duffing { .. } => 0.005,
            System::SprottB => 0.005,
        }
    }

    /// The parameters by name and value, in declaration order (for reports and errors).
    pub fn params(&self) -> Vec<(&'static str, f64)> {
        match *self {
            System::Lorenz63 { sigma, rho, beta } => {
                vec![("sigma", sigma), ("rho", rho), ("beta", beta)]
            }
            System::Lorenz96 { dim, forcing } => vec![("dim", dim as f64), ("forcing", forcing)],
            System::Rossler { a, b, c } => vec![("a", a), ("b", b), ("c", c)],
            System::HindmarshRose {
                a,
                b,
                c,
                d,
                r,
                s,
                x_rest,
                current,
            } => vec![
                ("a", a),
                ("b", b),
                ("c", c),
                ("d", d),
                ("r", r),
                ("s", s),
                ("x_rest", x_rest),
                ("current", current),
            ],
            System::FitzhughNagumo { a, b, eps, current } => {
                vec![("a", a), ("b", b), ("eps", eps), ("current", current)]
            }
            System::MorrisLecar {
                c_m,
                g_ca,
                g_k,
                g_l,
                v_ca,
                v_k,
                v_l,
                v1,
                v2,
                v3,
                v4,
                phi,
                current,
            } => vec![
                ("c_m", c_m),
                ("g_ca", g_ca),
                ("g_k", g_k),
                ("g_l", g_l),
                ("v_ca", v_ca),
                ("v_k", v_k),
                ("v_l", v_l),
                ("v1", v1),
                ("v2", v2),
                ("v3", v3),
                ("v4", v4),
                ("phi", phi),
                ("current", current),
            ],
            System::WilsonCowan {
                c1,
                c2,
                c3,
                c4,
                a_e,
                theta_e,
                a_i,
                theta_i,
                p,
                q,
            } => vec![
                ("c1", c1),
                ("c2", c2),
                ("c3", c3),
                ("c4", c4),
                ("a_e", a_e),
                ("theta_e", theta_e),
                ("a_i", a_i),
                ("theta_i", theta_i),
                ("p", p),
                ("q", q),
            ],
            System::Chua {
                alpha,
                beta,
                m0,
                m1,
            } => vec![("alpha", alpha), ("beta", beta), ("m0", m0), ("m1", m1)],
            System::Aizawa { a, b, c, d, e, f } => {
                vec![("a", a), ("b", b), ("c", c), ("d", d), ("e", e), ("f", f)]
            }
            System::Duffing {
                delta,
                alpha,
                beta,
                gamma,
                omega,
            } => vec![
                ("delta", delta),
                ("alpha", alpha),
                ("beta", beta),
                ("gamma", gamma),
                ("omega", omega),
            ],
            System::SprottB => vec![],
        }
    }

    /// Checks the parameters: all finite; Lorenz-96 `dim ≥ 4`; Morris–Lecar `c_m`, `v2`, `v4`
    /// non-zero; Duffing `omega > 0`.
    pub fn validate(&self) -> Result<(), SimError> {
        let name = self.name();
        let bad = |pname: &'static str, requirement: &'static str, value: String| {
            Err(SimError::InvalidSystem {
                system: name,
                name: pname,
                requirement,
                value,
            })
        };
        if let System::Lorenz96 { dim, .. } = *self {
            if dim < 4 {
                return bad("dim", "at least 4", dim.to_string());
            }
        }
        for (pname, v) in self.params() {
            if !v.is_finite() {
                return bad(pname, "finite", v.to_string());
            }
        }
        match *self {
            System::MorrisLecar { c_m, v2, v4, .. } => {
                for (pname, v) in [("c_m", c_m), ("v2", v2), ("v4", v4)] {
                    if v == 0.0 {
                        return bad(pname, "non-zero", v.to_string());
                    }
                }
            }
            System::Duffing { omega, .. } if omega <= 0.0 => {
                return bad("omega", "> 0", omega.to_string());
            }
            _ => {}
        }
        Ok(())
    }

    pub(super) fn check_len(&self, found: usize) -> Result<(), SimError> {
        if found == self.dim() {
            Ok(())
        } else {
            Err(SimError::DimensionMismatch {
                system: self.name(),
                expected: self.dim(),
                found,
            })
        }
    }

    /// The vector field f(x) at `x`.
    pub fn vector_field(&self, x: &[f64]) -> Result<Vec<f64>, SimError> {
        self.validate()?;
        self.check_len(x.len())?;
        let mut dx = vec![0.0; x.len()];
        self.field(x, &mut dx);
        Ok(dx)
    }

    /// The Jacobian ∂f/∂x at `x`, row-major `dim × dim` (entry `[i * dim + j]` = ∂f_i/∂x_j).
    /// Chua's g has kinks at |x| = 1; there the outer slope m₁ is used.
    pub fn jacobian(&self, x: &[f64]) -> Result<Vec<f64>, SimError> {
        self.validate()?;
        self.check_len(x.len())?;
        let n = x.len();
        let mut jac = vec![0.0; n * n];
        self.jacobian_into(x, &mut jac);
        Ok(jac)
    }

    /// J(x) into `jac` (zeroed, `dim × dim`); lengths are the caller's to guarantee.
    fn jacobian_into(&self, x: &[f64], jac: &mut [f64]) {
        let n = x.len();
        match *self {
            System::Lorenz63 { sigma, rho, beta } => {
                jac.copy_from_slice(&[
                    -sigma,
                    sigma,
                    0.0,
                    rho - x[2],
                    -1.0,
                    -x[0],
                    x[1],
                    x[0],
                    -beta,
                ]);
            }
            System::Lorenz96 { .. } => {
                for i in 0..n {
                    let (ip1, im1, im2) = ((i + 1) % n, (i + n - 1) % n, (i + n - 2) % n);
                    let row = &mut jac[i * n..(i + 1) * n];
                    row[ip1] += x[im1];
                    row[im2] -= x[im1];
                    row[im1] += x[ip1] - x[im2];
                    row[i] -= 1.0;
                }
            }
            System::Rossler { a, c, .. } => {
                jac.copy_from_slice(&[0.0, -1.0, -1.0, 1.0, a, 0.0, x[2], 0.0, x[0] - c]);
            }
            System::HindmarshRose { a, b, d, r, s, .. } => {
                let v = x[0];
                jac.copy_from_slice(&[
                    -3.0 * a * v * v + 2.0 * b * v,
                    1.0,
                    -1.0,
                    -2.0 * d * v,
                    -1.0,
                    0.0,
                    r * s,
                    0.0,
                    -r,
                ]);
            }
            System::FitzhughNagumo { b, eps, .. } => {
                jac.copy_from_slice(&[1.0 - x[0] * x[0], -1.0, eps, -eps * b]);
            }
            System::MorrisLecar { .. } => {
                let ml = MlRates::new(self, x[0]);
                let Some(p) = ml.p else { return };
                let w = x[1];
                jac.copy_from_slice(&[
                    (-p.g_l - p.g_ca * (ml.dm_inf * (x[0] - p.v_ca) + ml.m_inf) - p.g_k * w)
                        / p.c_m,
                    -p.g_k * (x[0] - p.v_k) / p.c_m,
                    ml.drate * (ml.w_inf - w) + ml.rate * ml.dw_inf,
                    -ml.rate,
                ]);
            }
            System::WilsonCowan {
                c1,
                c2,
                c3,
                c4,
                a_e,
                theta_e,
                a_i,
                theta_i,
                p,
                q,
            } => {
                let (e, i) = (x[0], x[1]);
                let (se, dse, ke) = wc_sigmoid(c1 * e - c2 * i + p, a_e, theta_e);
                let (si, dsi, ki) = wc_sigmoid(c3 * e - c4 * i + q, a_i, theta_i);
                jac.copy_from_slice(&[
                    -1.0 - se + (ke - e) * dse * c1,
                    -(ke - e) * dse * c2,
                    (ki - i) * dsi * c3,
                    -1.0 - si - (ki - i) * dsi * c4,
                ]);
            }
            System::Chua {
                alpha,
                beta,
                m0,
                m1,
            } => {
                let slope = if x[0].abs() < 1.0 { m0 } else { m1 };
                jac.copy_from_slice(&[
                    -alpha * (1.0 + slope),
                    alpha,
                    0.0,
                    1.0,
                    -1.0,
                    1.0,
                    0.0,
                    -beta,
                    0.0,
                ]);
            }
            System::Aizawa { a, b, d, e, f, .. } => {
                let (u, v, z) = (x[0], x[1], x[2]);
                jac.copy_from_slice(&[
                    z - b,
                    -d,
                    u,
                    d,
                    z - b,
                    v,
                    -2.0 * u * (1.0 + e * z) + 3.0 * f * z * u * u,
                    -2.0 * v * (1.0 + e * z),
                    a - z * z - e * (u * u + v * v) + f * u * u * u,
                ]);
            }
            System::Duffing {
                delta,
                alpha,
                beta,
                gamma,
                omega,
            } => {
                let (u, w) = (x[2], x[3]);
                jac.copy_from_slice(&[
                    0.0,
                    1.0,
                    0.0,
                    0.0,
                    -alpha - 3.0 * beta * x[0] * x[0],
                    -delta,
                    gamma,
                    0.0,
                    0.0,
                    0.0,
                    1.0 - 3.0 * u * u - w * w,
                    -omega - 2.0 * u * w,
                    0.0,
                    0.0,
                    omega - 2.0 * u * w,
                    1.0 - u * u - 3.0 * w * w,
                ]);
            }
            System::SprottB => {
                jac.copy_from_slice(&[0.0, x[2], x[1], 1.0, -1.0, 0.0, -x[1], -x[0], 0.0]);
            }
        }
    }

    /// f(x) into `dx`; lengths are the caller's to guarantee (both `dim`).
    pub(super) fn field(&self, x: &[f64], dx: &mut [f64]) {
        match *self {
            System::Lorenz63 { sigma, rho, beta } => {
                dx[0] = sigma * (x[1] - x[0]);
                dx[1] = x[0] * (rho - x[2]) - x[1];
                dx[2] = x[0] * x[1] - beta * x[2];
            }
            System::Lorenz96 { forcing, .. } => {
                let n = x.len();
                for i in 0..n {
                    let (ip1, im1, im2) = ((i + 1) % n, (i + n - 1) % n, (i + n - 2) % n);
                    dx[i] = (x[ip1] - x[im2]) * x[im1] - x[i] + forcing;
                }
            }
            System::Rossler { a, b, c } => {
                dx[0] = -x[1] - x[2];
                dx[1] = x[0] + a * x[1];
                dx[2] = b + x[2] * (x[0] - c);
            }
            System::HindmarshRose {
                a,
                b,
                c,
                d,
                r,
                s,
                x_rest,
                current,
            } => {
                let v = x[0];
                dx[0] = x[1] - a * v * v * v + b * v * v - x[2] + current;
                dx[1] = c - d * v * v - x[1];
                dx[2] = r * (s * (v - x_rest) - x[2]);
            }
            System::FitzhughNagumo { a, b, eps, current } => {
                let v = x[0];
                dx[0] = v - v * v * v / 3.0 - x[1] + current;
                dx[1] = eps * (v + a - b * x[1]);
            }
            System::MorrisLecar { .. } => {
                let ml = MlRates::new(self, x[0]);
                let Some(p) = ml.p else { return };
                let (v, w) = (x[0], x[1]);
                dx[0] = (p.current
                    - p.g_l * (v - p.v_l)
                    - p.g_ca * ml.m_inf * (v - p.v_ca)
                    - p.g_k * w * (v - p.v_k))
                    / p.c_m;
                dx[1] = ml.rate * (ml.w_inf - w);
            }
            System::WilsonCowan {
                c1,
                c2,
                c3,
                c4,
                a_e,
                theta_e,
                a_i,
                theta_i,
                p,
                q,
            } => {
                let (e, i) = (x[0], x[1]);
                let (se, _, ke) = wc_sigmoid(c1 * e - c2 * i + p, a_e, theta_e);
                let (si, _, ki) = wc_sigmoid(c3 * e - c4 * i + q, a_i, theta_i);
                dx[0] = -e + (ke - e) * se;
                dx[1] = -i + (ki - i) * si;
            }
            System::Chua {
                alpha,
                beta,
                m0,
                m1,
            } => {
                let g = m1 * x[0] + 0.5 * (m0 - m1) * ((x[0] + 1.0).abs() - (x[0] - 1.0).abs());
                dx[0] = alpha * (x[1] - x[0] - g);
                dx[1] = x[0] - x[1] + x[2];
                dx[2] = -beta * x[1];
            }
            System::Aizawa { a, b, c, d, e, f } => {
                let (u, v, z) = (x[0], x[1], x[2]);
                dx[0] = (z - b) * u - d * v;
                dx[1] = d * u + (z - b) * v;
                dx[2] = c + a * z - z * z * z / 3.0 - (u * u + v * v) * (1.0 + e * z)
                    + f * z * u * u * u;
            }
            System::Duffing {
                delta,
                alpha,
                beta,
                gamma,
                omega,
            } => {
                let (u, w) = (x[2], x[3]);
                let radial = 1.0 - u * u - w * w;
                dx[0] = x[1];
                dx[1] = -delta * x[1] - alpha * x[0] - beta * x[0] * x[0] * x[0] + gamma * u;
                dx[2] = -omega * w + u * radial;
                dx[3] = omega * u + w * radial;
            }
            System::SprottB => {
                dx[0] = x[1] * x[2];
                dx[1] = x[0] - x[1];
                dx[2] = 1.0 - x[0] * x[1];
            }
        }
    }

    /// The Jacobian-vector product J(x)·v into `out` (Lorenz-96, which may be
    /// high-dimensional, without forming J).
    pub(super) fn jvp(&self, x: &[f64], v: &[f64], out: &mut [f64]) {
        match *self {
            System::Lorenz63 { sigma, rho, beta } => {
                out[0] = sigma * (v[1] - v[0]);
                out[1] = (rho - x[2]) * v[0] - v[1] - x[0] * v[2];
                out[2] = x[1] * v[0] + x[0] * v[1] - beta * v[2];
            }
            System::Lorenz96 { .. } => {
                let n = x.len();
                for i in 0..n {
                    let (ip1, im1, im2) = ((i + 1) % n, (i + n - 1) % n, (i + n - 2) % n);
                    out[i] = (v[ip1] - v[im2]) * x[im1] + (x[ip1] - x[im2]) * v[im1] - v[i];
                }
            }
            System::Rossler { a, c, .. } => {
                out[0] = -v[1] - v[2];
                out[1] = v[0] + a * v[1];
                out[2] = x[2] * v[0] + (x[0] - c) * v[2];
            }
            _ => {
                // Every other system has dimension ≤ 4.
                let n = x.len();
                let mut buf = [0.0; 16];
                let jac = &mut buf[..n * n];
                self.jacobian_into(x, jac);
                for (o, row) in out.iter_mut().zip(jac.chunks_exact(n)) {
                    *o = row.iter().zip(v).map(|(a, b)| a * b).sum();
                }
            }
        }
    }

    /// A seeded random state in the region the attractor occupies; the transient removes the
    /// rest of the approach.
    pub(super) fn default_initial(&self, rng: &mut Xoshiro256PlusPlus) -> Vec<f64> {
        let mut g = || rng.sample::<f64, _>(StandardNormal);
        match *self {
            System::Lorenz63 { .. } => vec![5.0 * g(), 5.0 * g(), 25.0 + 5.0 * g()],
            System::Lorenz96 { dim, forcing } => (0..dim).map(|_| forcing + g()).collect(),
            // Rössler orbits escape to infinity from large z; start in the (x, y) plane.
            System::Rossler { .. } => vec![3.0 * g(), 3.0 * g(), 0.1 * g().abs()],
            System::HindmarshRose { .. } => vec![-1.0 + 0.5 * g(), -5.0 + g(), 3.0 + 0.1 * g()],
            System::FitzhughNagumo { .. } => vec![g(), g()],
            System::MorrisLecar { .. } => vec![-40.0 + 10.0 * g(), 0.1 * g().abs()],
            System::WilsonCowan { .. } => vec![0.1 * g().abs(), 0.1 * g().abs()],
            System::Chua { .. } => vec![0.5 * g(), 0.1 * g(), 0.5 * g()],
            System::Aizawa { .. } => vec![0.1 + 0.1 * g(), 0.1 * g(), 0.1 * g()],
            System::Duffing { .. } => {
                // On the forcing's limit cycle at a random phase.
                let phase = std::f64::consts::PI * g();
                vec![g(), g(), phase.cos(), phase.sin()]
            }
            System::SprottB => vec![0.5 * g(), 0.5 * g(), 0.5 * g()],
        }
    }
}

/// S(u) = σ(a(u − θ)) − σ(−aθ), its derivative a σ(1 − σ), and its supremum k = 1 − σ(−aθ),
/// for the Wilson–Cowan model.
fn wc_sigmoid(u: f64, a: f64, theta: f64) -> (f64, f64, f64) {
    let sigma = 1.0 / (1.0 + (-a * (u - theta)).exp());
    let base = 1.0 / (1.0 + (a * theta).exp());
    (sigma - base, a * sigma * (1.0 - sigma), 1.0 - base)
}

/// Morris–Lecar parameters, copied out of the enum.
#[derive(Clone, Copy)]
struct MlParams {
    c_m: f64,
    g_ca: f64,
    g_k: f64,
    g_l: f64,
    v_ca: f64,
    v_k: f64,
    v_l: f64,
    current: f64,
}

/// Morris–Lecar gating functions at one voltage and their derivatives.
struct MlRates {
    /// The parameters (`None` if the system is not Morris–Lecar).
    p: Option<MlParams>,
    m_inf: f64,
    dm_inf: f64,
    w_inf: f64,
    dw_inf: f64,
    /// φ cosh((V − V₃)/(2V₄)) = φ/τ_w(V).
    rate: f64,
    drate: f64,
}

impl MlRates {
    fn new(sys: &System, v: f64) -> Self {
        let System::MorrisLecar {
            c_m,
            g_ca,
            g_k,
            g_l,
            v_ca,
            v_k,
            v_l,
            v1,
            v2,
            v3,
            v4,
            phi,
            current,
        } = *sys
        else {
            return Self {
                p: None,
                m_inf: 0.0,
                dm_inf: 0.0,
                w_inf: 0.0,
                dw_inf: 0.0,
                rate: 0.0,
                drate: 0.0,
            };
        };
        let tm = ((v - v1) / v2).tanh();
        let tw = ((v - v3) / v4).tanh();
        let arg = (v - v3) / (2.0 * v4);
        Self {
            p: Some(MlParams {
                c_m,
                g_ca,
                g_k,
                g_l,
                v_ca,
                v_k,
                v_l,
                current,
            }),
            m_inf: 0.5 * (1.0 + tm),
            dm_inf: 0.5 * (1.0 - tm * tm) / v2,
            w_inf: 0.5 * (1.0 + tw),
            dw_inf: 0.5 * (1.0 - tw * tw) / v4,
            rate: phi * arg.cosh(),
            drate: phi * arg.sinh() / (2.0 * v4),
        }
    }
}

impl fmt::Display for System {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            System::Lorenz63 { sigma, rho, beta } => {
                write!(f, "lorenz63(sigma={sigma}, rho={rho}, beta={beta})")
            }
            System::Lorenz96 { dim, forcing } => write!(f, "lorenz96(dim={dim}, F={forcing})"),
            _ => {
                write!(f, "{}(", self.name())?;
                for (k, (pname, v)) in self.params().into_iter().enumerate() {
                    if k > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "{pname}={v}")?;
                }
                write!(f, ")")
            }
        }
    }
}

/// Parses a system name into the system with its standard parameters: the snake_case names of
/// [`SYSTEM_NAMES`], with case, `-`, `_` and spaces ignored (`Lorenz-63`, `Hindmarsh-Rose`,
/// `FitzHugh Nagumo` work); `rössler`/`roessler`, `ueda` (= `duffing`) and `sprott`
/// (= `sprott_b`) are accepted too. Lorenz-96 gets dimension 10 and F = 8 (the project's
/// benchmark data); change `dim` afterwards as needed.
impl FromStr for System {
    type Err = SimError;

    fn from_str(s: &str) -> Result<Self, SimError> {
        let key: String = s
            .chars()
            .filter(|c| !matches!(c, '-' | '_' | ' '))
            .collect::<String>()
            .to_lowercase()
            .replace('ö', "o")
            .replace("roes", "ros");
        let found = match key.as_str() {
            "ueda" => Some(System::duffing()),
            "sprott" => Some(System::sprott_b()),
            _ => System::all()
                .into_iter()
                .find(|sys| sys.name().replace('_', "") == key),
        };
        found.ok_or_else(|| SimError::UnknownSystem { name: s.into() })
    }
}
