fn main() -> std::process::ExitCode {
    plrnn_train::cli::main()
}
