//! Loading a catalog: read the file, parse it into the file schema, run every check, and hand back the
//! model together with everything that was found.
//!
//! Checks report into one [`Diagnostics`] instead of stopping at the first problem, so that a user
//! fixes a catalog in one round trip. [`Catalog::load_partial`] goes one step further for `validate`:
//! it also returns the images that passed, so their templates and contexts can be checked in the
//! same run.

use std::path::Path;

use indexmap::IndexMap;

use super::file::CatalogFile;
use super::model::{Catalog, LoadOptions};
use super::scalar::spanned_scalars;
use super::{DEFAULT_TEMPLATES_DIR, checks, image};
use crate::diagnostic::{Code, Diagnostic, Diagnostics, SourceText};
use crate::fsutil::{InputError, directory_of, read_input};

impl Catalog {
    /// Reads and checks a catalog file. All problems found are returned together.
    pub fn load(path: &Path, options: &LoadOptions) -> Result<(Catalog, Diagnostics), Diagnostics> {
        let (catalog, diagnostics) = Catalog::load_partial(path, options);
        match catalog {
            Some(catalog) if !diagnostics.has_errors() => Ok((catalog, diagnostics)),
            _ => Err(diagnostics),
        }
    }

    /// Like [`Catalog::load`], but when the file parses and only some images are wrong, also returns
    /// the catalog of the sound ones (an image whose parent was refused is left out too), so
    /// `validate` can go on to check their templates and contexts in the same run.
    pub fn load_partial(path: &Path, options: &LoadOptions) -> (Option<Catalog>, Diagnostics) {
        let text = match read(path) {
            Ok(text) => text,
            Err(diagnostics) => return (None, diagnostics),
        };
        let file: CatalogFile =
            match crate::yaml::parse(path, &text, crate::yaml::Document::Catalog) {
                Ok(file) => file,
                Err(diagnostics) => return (None, diagnostics),
            };
        let (mut catalog, diagnostics) = from_file(path, text, &file, options);
        drop_orphans(&mut catalog);
        (Some(catalog), diagnostics)
    }

    /// Checks catalog text as if it had been read from `path`.
    pub fn parse(
        path: &Path,
        text: String,
        options: &LoadOptions,
    ) -> Result<(Catalog, Diagnostics), Diagnostics> {
        let text = SourceText::from(text);
        let file: CatalogFile = crate::yaml::parse(path, &text, crate::yaml::Document::Catalog)?;
        let (catalog, diagnostics) = from_file(path, text, &file, options);
        diagnostics
            .into_result()
            .map(|warnings| (catalog, warnings))
    }
}

/// The catalog's text. The catalog may be named anywhere (`-f`), but it may be a symlink only to a
/// file in its own directory: that directory is the repository its templates, build contexts and
/// lock file are found in, and a link out of it (to `~/.docker/config.json`, say) must never have
/// its target read, let alone quoted in an error.
fn read(path: &Path) -> Result<SourceText, Diagnostics> {
    read_input(path, directory_of(path))
        .map(SourceText::from)
        .map_err(|error| {
            let help = match &error {
                InputError::NotFound { .. } => "run baseimg in the directory that holds base-images.yaml, or name the file with `-f PATH`".to_string(),
                InputError::Outside { .. } => "a catalog may be a symlink only to a file in its own directory, which holds its templates, build contexts and lock file; to use the file it points to, name it with `-f PATH`".to_string(),
                InputError::NotRegular { .. } => "name the catalog file itself with `-f PATH`".to_string(),
                InputError::TooLarge { .. } => InputError::too_large_help(),
                InputError::NotText { .. } => "save the catalog as UTF-8".to_string(),
                InputError::Io { .. } => "check the file's permissions".to_string(),
            };
            let code = match &error {
                InputError::NotFound { .. } => Code::CatalogNotFound,
                _ => Code::CatalogUnreadable,
            };
            Diagnostic::new(code, error.message("catalog", "its directory"))
                .help(help)
                .into()
        })
}

/// The model of a parsed file, with every problem its checks found. Images that fail a check are
/// left out of the model.
fn from_file(
    path: &Path,
    text: SourceText,
    file: &CatalogFile,
    options: &LoadOptions,
) -> (Catalog, Diagnostics) {
    // Paths inside the repository are shown relative to where the user stands when the catalog is
    // in the current directory (`templates/x.j2`, not `./templates/x.j2`).
    let root = path.parent().unwrap_or(Path::new("")).to_path_buf();
    let templates = file
        .templates
        .as_ref()
        .map(|t| t.value.as_str())
        .unwrap_or(DEFAULT_TEMPLATES_DIR);
    let mut catalog = Catalog {
        path: path.to_path_buf(),
        root: root.clone(),
        text,
        registry: String::new(),
        insecure_registries: file
            .insecure_registries
            .iter()
            .map(|r| r.value.clone())
            .collect(),
        templates_dir: root.join(templates),
        source_url: file.source.as_ref().map(|s| s.value.clone()),
        labels: spanned_scalars(&file.labels),
        vars: IndexMap::new(),
        builder: Default::default(),
        builders: Vec::new(),
        images: IndexMap::new(),
    };
    let mut diagnostics = Diagnostics::default();
    checks::version(&catalog, file, &mut diagnostics);
    catalog.registry = checks::registry(&catalog, file, options, &mut diagnostics);
    checks::reserved_vars(&catalog, &file.vars, None, &mut diagnostics);
    checks::labels(&catalog, &file.labels, None, &mut diagnostics);
    catalog.builder = checks::builder(&catalog, file.defaults.builder.as_ref(), &mut diagnostics);
    catalog.builders = checks::builders(&catalog, &file.builders, &mut diagnostics);
    if let Some(source) = &file.source {
        let what = "`source` (the `org.opencontainers.image.source` label)";
        checks::one_line(
            &catalog,
            what,
            &source.value,
            source,
            None,
            &mut diagnostics,
        );
    }
    catalog.vars = file
        .vars
        .iter()
        .map(|(key, value)| (key.name().to_string(), value.clone()))
        .collect();
    let images = image::convert_all(&catalog, file, &mut diagnostics);
    catalog.images = images;
    checks::tags_unique(&catalog, file, &mut diagnostics);
    (catalog, diagnostics)
}

/// Removes, until none is left, every image whose parent is not in the catalog (because it was
/// refused, or is itself such an orphan).
fn drop_orphans(catalog: &mut Catalog) {
    loop {
        let orphans: Vec<String> = catalog
            .images
            .values()
            .filter(|i| i.parent().is_some_and(|p| !catalog.images.contains_key(p)))
            .map(|i| i.name.clone())
            .collect();
        if orphans.is_empty() {
            return;
        }
        for orphan in orphans {
            catalog.images.shift_remove(&orphan);
        }
    }
}
