//! Tells the code whether this build is unoptimised (`opt-level = 0`, as `cargo build` of a
//! crate using this one): the ELBO kernel forces inlining only when optimising (see
//! `src/vi/elbo/mod.rs`).

fn main() {
    println!("cargo::rustc-check-cfg=cfg(plrnn_unoptimised)");
    println!("cargo::rerun-if-changed=build.rs");
    if std::env::var("OPT_LEVEL").as_deref() == Ok("0") {
        println!("cargo::rustc-cfg=plrnn_unoptimised");
    }
}
