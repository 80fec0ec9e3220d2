//! placeholder
pub fn build() -> anyhow::Result<std::path::PathBuf> {
    todo!()
}
