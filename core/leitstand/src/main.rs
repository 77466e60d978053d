//! The `leitstand` binary; everything it does lives in [`leitstand::cli`].

/// jemalloc instead of the C library's allocator (ADR 0021): a replay's events, envelopes,
/// state values and commands are many small allocations, which it serves faster, and a
/// daemon of many tenants starts sooner on it.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> std::process::ExitCode {
    leitstand::cli::main()
}
