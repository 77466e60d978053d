//! What the benches share: copies of an example bundle, each a tenant of its own, and the
//! CPU time a process has used.

use std::path::Path;

/// Writes a copy of the rlp-impf example bundle as tenant `id` into `dir/<id>/`, its plugins
/// read from the repository's `target/` under `root`. Returns the manifest it wrote.
pub fn rlp_impf_copy(root: &Path, dir: &Path, id: &str) -> std::io::Result<String> {
    let manifest = std::fs::read_to_string(root.join("examples/bundles/rlp-impf/tenant.toml"))?;
    let guests = format!("\"{}/target/", root.display());
    let text = manifest
        .replacen("id = \"rlp-impf\"", &format!("id = \"{id}\""), 1)
        .replace("\"../../../target/", &guests);
    std::fs::create_dir(dir.join(id))?;
    std::fs::write(dir.join(id).join("tenant.toml"), &text)?;
    Ok(text)
}

/// Kernel clock ticks per second of `/proc/<pid>/stat` (`getconf CLK_TCK`, 100 on Linux).
const TICKS: f64 = 100.0;

/// User plus system CPU seconds of process `pid` (`self` for this one, its exited threads
/// included), or `None` when `/proc` does not say.
pub fn cpu_seconds(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may contain spaces.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / TICKS)
}
