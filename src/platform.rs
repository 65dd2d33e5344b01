//! Platforms as the catalog and registries write them (`os/arch[/variant]`, like `linux/arm64`):
//! which strings are platforms, and when a platform the catalog names is one a registry offers. A
//! leaf: the catalog checks platforms with it, the registry and the executor match them.

/// Why a platform was refused.
#[derive(Debug, thiserror::Error)]
#[error("invalid platform `{0}` (expected `os/arch` or `os/arch/variant`, like `linux/arm64`)")]
pub(crate) struct PlatformError(String);

pub(crate) fn check(platform: &str) -> Result<(), PlatformError> {
    let parts: Vec<&str> = platform.split('/').collect();
    let well_formed = (2..=3).contains(&parts.len())
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'));
    if well_formed {
        Ok(())
    } else {
        Err(PlatformError(platform.to_string()))
    }
}

/// Whether a catalog platform names an upstream one: exactly, or without the variant upstream adds
/// (`linux/arm64` names Docker Hub's `linux/arm64/v8`, `linux/arm` its `linux/arm/v7`).
pub(crate) fn matches(wanted: &str, available: &str) -> bool {
    wanted == available
        || (wanted.split('/').count() == 2
            && available
                .strip_prefix(wanted)
                .is_some_and(|rest| rest.starts_with('/')))
}

/// Whether a filter (non-empty) keeps an upstream platform.
pub(crate) fn keeps(filter: &[String], available: &str) -> bool {
    filter.iter().any(|wanted| matches(wanted, available))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platforms_match_with_or_without_the_variant_upstream_adds() {
        assert!(matches("linux/arm64", "linux/arm64/v8"));
        assert!(matches("linux/arm64/v8", "linux/arm64/v8"));
        assert!(!matches("linux/arm64/v8", "linux/arm64"));
        assert!(!matches("linux/arm", "linux/arm64"));
    }

    #[test]
    fn platforms_are_os_arch_and_variant() {
        assert!(check("linux/arm64/v8").is_ok());
        assert!(check("linux").is_err());
        assert!(check("linux//amd64").is_err());
    }
}
