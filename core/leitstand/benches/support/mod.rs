//! What the benches share: copies of an example bundle, each a tenant of its own.

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
