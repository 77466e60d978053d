//! The `leitstand` binary; everything it does lives in [`leitstand::cli`].

/// mimalloc instead of the C library's allocator: events, envelopes and commands are
/// small allocations made on one thread and freed on another, where it is faster.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    leitstand::cli::main()
}
