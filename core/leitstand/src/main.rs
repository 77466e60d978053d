//! The `leitstand` binary; everything it does lives in [`leitstand::cli`].

fn main() -> std::process::ExitCode {
    leitstand::cli::main()
}
