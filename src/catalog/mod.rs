//! The catalog: `base-images.yaml`, its schema, and everything that can be checked from the file alone.
//!
//! Loading happens in two stages. serde-saphyr turns the YAML into the raw schema of `file.rs`,
//! rejecting syntax errors, unknown keys, wrong types and duplicate keys with their line and column.
//! Then the checks (`checks.rs` for the catalog as a whole, `image.rs` for each image, with
//! `service.rs` for its `run:` and `checks:` and `secrets.rs` for its build secrets) judge the
//! meaning of what was written (references, names, tags, parents), collect every problem they find in
//! one pass, so a user fixes a catalog in one round trip, and build the model of `model.rs` that the
//! rest of baseimg works with. `load.rs` ties the stages together.

mod checks;
mod file;
mod image;
mod load;
mod model;
mod scalar;
mod secrets;
mod service;
mod service_file;

pub use model::{
    BuilderHost, BuilderKind, Catalog, Image, ImageKind, LoadOptions, Mirror, Recipe, SecretSource,
    Span, unknown_image,
};
pub use scalar::Scalar;
pub use service::{Check, DEFAULT_CHECK_TIMEOUT, Port, RunSpec, Volume};

pub const DEFAULT_CATALOG: &str = "base-images.yaml";
pub const DEFAULT_TEMPLATES_DIR: &str = "templates";
/// Names a template may not use for its own variables: baseimg fills them in.
pub const RESERVED_VARS: &[&str] = &["from", "parent", "image", "registry", "labels"];
const SCHEMA_VERSION: u32 = 1;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostic::Diagnostics;
    use std::collections::BTreeMap;
    use std::path::Path;

    fn parse(text: &str) -> Result<(Catalog, Diagnostics), Diagnostics> {
        Catalog::parse(
            Path::new("base-images.yaml"),
            text.to_string(),
            &LoadOptions::default(),
        )
    }

    #[test]
    fn loads_mirrors_and_builds() {
        let (catalog, warnings) = parse(
            "registry: localhost:5000/base\nimages:\n  redis-upstream:\n    mirror: redis:7.2.4\n  redis:\n    from: redis-upstream\n    tags: [7.2.4, \"7.2\"]\n    build_args: { PORT: 6379 }\n",
        )
        .unwrap();
        assert!(warnings.is_empty());
        let redis = catalog.images["redis"].as_build().unwrap();
        assert_eq!(redis.parent, "redis-upstream");
        assert_eq!(redis.version, "7.2.4");
        assert_eq!(redis.build_args["PORT"], "6379");
        assert_eq!(redis.template, "redis.Dockerfile.j2");
        assert_eq!(
            catalog.images["redis-upstream"]
                .as_mirror()
                .unwrap()
                .upstream
                .to_string(),
            "docker.io/library/redis:7.2.4"
        );
    }

    #[test]
    fn reports_every_problem_at_once() {
        let errors = parse(
            "registry: localhost:5000/base\nimages:\n  a:\n    mirror: python\n  b:\n    from: nope\n  c: {}\n",
        )
        .unwrap_err();
        assert_eq!(errors.error_count(), 3, "{errors}");
    }

    #[test]
    fn a_duplicate_tag_points_at_both_claims() {
        let errors = parse(
            "registry: r.example/b\nimages:\n  up:\n    mirror: redis:7\n  a:\n    from: up\n    repository: x\n    tags: [\"1\"]\n  b:\n    from: up\n    repository: x\n    tags: [\"2\", \"1\"]\n",
        )
        .unwrap_err();
        assert_eq!(errors.0.len(), 1, "{errors}");
        let duplicate = &errors.0[0];
        assert_eq!(
            duplicate.message,
            "images `a` and `b` both claim `r.example/b/x:1`"
        );
        let at = duplicate.location.as_ref().unwrap();
        assert_eq!((at.line, at.column), (12, 17));
        assert_eq!(duplicate.related.len(), 1);
        let first = &duplicate.related[0].location;
        assert_eq!((first.line, first.column), (8, 12));
    }

    #[test]
    fn registry_override_wins() {
        let options = LoadOptions {
            registry: Some("registry.example.com/team".into()),
        };
        let (catalog, _) = Catalog::parse(
            Path::new("c.yaml"),
            "registry: localhost:5000/base\nimages: {}\n".into(),
            &options,
        )
        .unwrap();
        assert_eq!(catalog.registry, "registry.example.com/team");
    }

    #[test]
    fn secrets_merge_by_id_and_the_builder_is_read() {
        let text = "registry: r.example/b\ndefaults:\n  builder: buildkit\n  secrets:\n    pip_index: { env: PIP_INDEX_URL }\n    npmrc: { file: /etc/npmrc }\nimages:\n  up: { mirror: python:3.11 }\n  api-base:\n    from: up\n    secrets:\n      netrc: { file: secrets/netrc }\n      pip_index: { env: PIP_TOKEN }\n  worker:\n    from: up\n";
        let (catalog, warnings) = parse(text).unwrap();
        assert!(warnings.is_empty(), "{warnings}");
        assert_eq!(catalog.builder, BuilderKind::Buildkit);
        let api = catalog.images["api-base"].as_build().unwrap();
        let here = std::env::current_dir().unwrap();
        assert_eq!(
            api.secrets,
            BTreeMap::from([
                (
                    "netrc".to_string(),
                    SecretSource::File(here.join("secrets/netrc"))
                ),
                ("npmrc".into(), SecretSource::File("/etc/npmrc".into())),
                ("pip_index".into(), SecretSource::Env("PIP_TOKEN".into())),
            ])
        );
        let at = catalog.locate(api.secrets_span.unwrap()).unwrap();
        assert_eq!(at.line, 12, "the image's own `secrets:`");
        // Without secrets of its own, an image has the defaults', and points at them.
        let worker = catalog.images["worker"].as_build().unwrap();
        assert_eq!(
            worker.secrets["pip_index"],
            SecretSource::Env("PIP_INDEX_URL".into())
        );
        assert_eq!(worker.secrets.len(), 2);
        let at = catalog.locate(worker.secrets_span.unwrap()).unwrap();
        assert_eq!(at.line, 5, "the defaults' `secrets:`");

        let (plain, _) = parse(
            "registry: r.example/b\nimages:\n  up: { mirror: python:3.11 }\n  a: { from: up }\n",
        )
        .unwrap();
        assert_eq!(plain.builder, BuilderKind::Auto);
        let a = plain.images["a"].as_build().unwrap();
        assert!(a.secrets.is_empty() && a.secrets_span.is_none());
    }

    #[test]
    fn a_missing_secret_is_no_load_error() {
        // Nothing is read on load: the variable and the file need not exist where the catalog is checked.
        let (catalog, warnings) = parse("registry: r.example/b\nimages:\n  up: { mirror: python:3.11 }\n  a:\n    from: up\n    secrets:\n      one: { env: BASEIMG_TEST_NEVER_SET_7F3A }\n      two: { file: /nonexistent/baseimg/secret }\n").unwrap();
        assert!(warnings.is_empty(), "{warnings}");
        assert_eq!(catalog.images["a"].as_build().unwrap().secrets.len(), 2);
    }

    #[test]
    fn unknown_key_suggests_the_right_one() {
        let errors = parse("registry: r.example/x\nimages:\n  a:\n    mirorr: x:1\n").unwrap_err();
        let text = errors.to_string();
        assert!(text.contains("unknown key `mirorr`"), "{text}");
        assert!(text.contains("did you mean `mirror`?"), "{text}");
        assert!(text.contains("base-images.yaml:4:5"), "{text}");
    }
}
