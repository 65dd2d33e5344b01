//! Just enough Dockerfile reading to check a rendered file: its `FROM` lines (contract: every base comes
//! from the private registry, pinned) and the local sources of its `COPY`/`ADD` lines (they must exist
//! in the build context, or the build would fail much later on the daemon). And one rewrite: pinning a
//! built parent's digest into the `FROM` lines once the parent is pushed ([`pin_base`]).

/// One instruction with its continuation lines joined, and the line it starts on (1-based).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Instruction {
    pub line: usize,
    pub keyword: String,
    pub arguments: String,
}

pub(crate) fn instructions(text: &str) -> Vec<Instruction> {
    let mut result = Vec::new();
    let mut current: Option<Instruction> = None;
    for (index, raw) in text.lines().enumerate() {
        let trimmed = raw.trim();
        if current.is_none() && (trimmed.is_empty() || trimmed.starts_with('#')) {
            continue;
        }
        if current.is_some() && trimmed.starts_with('#') {
            continue; // comment lines inside a continuation are dropped, as Docker does
        }
        let (content, continues) = match trimmed.strip_suffix('\\') {
            Some(rest) => (rest.trim_end(), true),
            None => (trimmed, false),
        };
        match current.as_mut() {
            Some(instruction) => {
                instruction.arguments.push(' ');
                instruction.arguments.push_str(content);
            }
            None => {
                let (keyword, arguments) = content
                    .split_once(char::is_whitespace)
                    .unwrap_or((content, ""));
                current = Some(Instruction {
                    line: index + 1,
                    keyword: keyword.to_ascii_uppercase(),
                    arguments: arguments.trim().to_string(),
                });
            }
        }
        if !continues && let Some(done) = current.take() {
            result.push(done);
        }
    }
    result.extend(current);
    result
}

/// The first instruction only BuildKit can run, with its line: a `RUN` with flags (`--mount=type=cache`,
/// `--mount=type=secret`, `--network`, `--security`), which the classic builder refuses.
pub(crate) fn buildkit_only(instructions: &[Instruction]) -> Option<(usize, String)> {
    instructions
        .iter()
        .filter(|i| i.keyword == "RUN")
        .find_map(|i| {
            let flag = i.arguments.split_whitespace().next()?;
            let name = flag.strip_prefix("--")?.split('=').next()?;
            Some((i.line, format!("RUN --{name}")))
        })
}

/// A `FROM` line: the image it names and the stage name it defines, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct From {
    pub line: usize,
    pub image: String,
    pub stage: Option<String>,
}

pub(crate) fn froms(instructions: &[Instruction]) -> Vec<From> {
    instructions
        .iter()
        .filter(|i| i.keyword == "FROM")
        .map(|i| {
            let words: Vec<&str> = i
                .arguments
                .split_whitespace()
                .filter(|w| !w.starts_with("--"))
                .collect();
            let stage = match words.as_slice() {
                [_, as_, name, ..] if as_.eq_ignore_ascii_case("as") => Some(name.to_string()),
                _ => None,
            };
            From {
                line: i.line,
                image: words.first().copied().unwrap_or_default().to_string(),
                stage,
            }
        })
        .collect()
}

/// `COPY --from=<source>` lines: the stage, stage index or image each copies from.
pub(crate) fn copy_froms(instructions: &[Instruction]) -> Vec<(usize, String)> {
    instructions
        .iter()
        .filter(|i| i.keyword == "COPY")
        .flat_map(|i| {
            i.arguments
                .split_whitespace()
                .take_while(|w| w.starts_with("--"))
                .filter_map(|w| w.strip_prefix("--from="))
                .map(|from| (i.line, from.to_string()))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Local sources of `COPY`/`ADD`: not those copied `--from` another stage or image, nor URLs.
pub(crate) fn local_sources(instructions: &[Instruction]) -> Vec<(usize, String)> {
    let mut sources = Vec::new();
    for instruction in instructions {
        if instruction.keyword != "COPY" && instruction.keyword != "ADD" {
            continue;
        }
        let arguments = instruction.arguments.trim();
        if arguments.starts_with("<<") {
            continue; // heredoc: nothing comes from the context
        }
        // Flags (`--chown`, `--from`, …) come first; a `--from` source is another stage, not the context.
        let mut rest = arguments;
        let mut from_elsewhere = false;
        while rest.starts_with("--") {
            let (flag, after) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
            from_elsewhere |= flag.starts_with("--from");
            rest = after.trim_start();
        }
        if from_elsewhere {
            continue;
        }
        let mut words: Vec<String> = if rest.starts_with('[') {
            serde_json::from_str::<Vec<String>>(rest).unwrap_or_default()
        } else {
            rest.split_whitespace().map(str::to_string).collect()
        };
        if words.len() < 2 {
            continue;
        }
        words.pop(); // destination
        for source in words {
            if source.contains("://") || source.starts_with("git@") {
                continue;
            }
            sources.push((instruction.line, source));
        }
    }
    sources
}

/// The Dockerfile with its `FROM` lines that name `reference` pinned to `reference@digest`, and
/// nothing else changed; `None` if a `FROM` naming `reference` is left over (the text was not what
/// the plan checked), so the caller never builds on a tag it meant to pin.
///
/// A built parent's digest exists only once it has been pushed, after the child was planned. The build
/// adds it here instead of rendering the template again, so what is built is what the plan rendered,
/// checked and fingerprinted, with the base made exact.
pub(crate) fn pin_base(text: &str, reference: &str, digest: &str) -> Option<String> {
    let pinned = format!("{reference}@{digest}");
    let mut lines: Vec<String> = text.split_inclusive('\n').map(str::to_string).collect();
    for from in instructions(text).iter().filter(|i| i.keyword == "FROM") {
        // The instruction's own lines: from its first line through the one that does not continue,
        // comment lines inside it included (they hold no image and are left as they are).
        let mut index = from.line - 1;
        while let Some(line) = lines.get_mut(index) {
            let body = line.trim_end_matches(['\n', '\r']);
            let comment = index + 1 != from.line && body.trim_start().starts_with('#');
            let continues = comment || body.trim_end().ends_with('\\');
            if !comment {
                let ending = line[body.len()..].to_string();
                *line = pin_words(body, reference, &pinned) + &ending;
            }
            if !continues {
                break;
            }
            index += 1;
        }
    }
    let result = lines.concat();
    let left = froms(&instructions(&result))
        .iter()
        .any(|from| from.image == reference);
    (!left).then_some(result)
}

/// `line` with each whitespace-separated word equal to `reference` replaced, keeping the spacing.
fn pin_words(line: &str, reference: &str, pinned: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while !rest.is_empty() {
        let space = rest.len() - rest.trim_start().len();
        out.push_str(&rest[..space]);
        rest = &rest[space..];
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        let word = &rest[..end];
        out.push_str(if word == reference { pinned } else { word });
        rest = &rest[end..];
    }
    out
}

/// `text` as one double-quoted Dockerfile word (a `LABEL` key or value), so the image carries
/// exactly the text a person wrote: `"` and `\` are escaped, and `$`, which Docker would expand as
/// a variable; every other character stays as it is (`app's` is `"app's"`, not JSON's
/// `"app\u0027s"`, which Docker would store as `app\u0027s`). A line break or other control
/// character has no way into a `LABEL`: Docker reads `\n` in a quoted word as `n`, and a real line
/// break ends the instruction. It is refused, and returned.
pub(crate) fn quote(text: &str) -> Result<String, char> {
    if let Some(control) = text.chars().find(|c| c.is_control()) {
        return Err(control);
    }
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        if matches!(c, '"' | '\\' | '$') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    Ok(out)
}

/// What [`quote`] refused, in words: `a line break`, `the control character U+0007`.
pub(crate) fn unquotable(control: char) -> String {
    match control {
        '\n' | '\r' => "a line break".into(),
        c => format!("the control character U+{:04X}", u32::from(c)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quoted_word_carries_the_text_as_written() {
        assert_eq!(quote("app's").unwrap(), "\"app's\"");
        assert_eq!(
            quote(r#"say "hi" \ pay $5 — ünï"#).unwrap(),
            r#""say \"hi\" \\ pay \$5 — ünï""#
        );
        assert_eq!(quote("two\nlines"), Err('\n'));
        assert_eq!(unquotable('\n'), "a line break");
        assert_eq!(unquotable('\u{7}'), "the control character U+0007");
    }

    #[test]
    fn run_flags_are_what_only_buildkit_runs() {
        let text = "FROM a\nRUN echo --mount=x\nRUN \\\n  --mount=type=cache,target=/root/.cache/pip \\\n  pip install x\n";
        assert_eq!(
            buildkit_only(&instructions(text)),
            Some((3, "RUN --mount".to_string()))
        );
        assert_eq!(buildkit_only(&instructions("FROM a\nRUN make\n")), None);
    }

    const SAMPLE: &str = "# syntax\nFROM --platform=$BUILDPLATFORM reg/x:1@sha256:abc AS build\nRUN a \\\n  # note\n  && b\nCOPY --chown=app:app requirements.txt ./\nCOPY [\"conf/a b.conf\", \"/etc/\"]\nCOPY --from=build /out /out\nADD https://example.com/x.tgz /tmp/\nFROM build\n";

    #[test]
    fn joins_continuations_and_keeps_start_lines() {
        let list = instructions(SAMPLE);
        assert_eq!(list[1].keyword, "RUN");
        assert_eq!(list[1].line, 3);
        assert_eq!(list[1].arguments, "a && b");
    }

    #[test]
    fn finds_froms_with_stage_names() {
        let list = froms(&instructions(SAMPLE));
        assert_eq!(list[0].image, "reg/x:1@sha256:abc");
        assert_eq!(list[0].stage.as_deref(), Some("build"));
        assert_eq!(list[1].image, "build");
        assert_eq!(list[1].line, 10);
    }

    #[test]
    fn finds_copy_from_sources() {
        assert_eq!(
            copy_froms(&instructions(SAMPLE)),
            vec![(8, "build".to_string())]
        );
    }

    #[test]
    fn lists_only_context_sources() {
        let sources = local_sources(&instructions(SAMPLE));
        assert_eq!(
            sources,
            vec![
                (6, "requirements.txt".to_string()),
                (7, "conf/a b.conf".to_string())
            ]
        );
    }

    #[test]
    fn pins_the_base_in_every_from_and_nowhere_else() {
        let text = "FROM reg/app:1-abc AS base\nENV BASE=reg/app:1-abc\nFROM \\\n  # the parent\n  reg/app:1-abc\nRUN echo reg/app:1-abc\n";
        assert_eq!(
            pin_base(text, "reg/app:1-abc", "sha256:d").as_deref(),
            Some(
                "FROM reg/app:1-abc@sha256:d AS base\nENV BASE=reg/app:1-abc\nFROM \\\n  # the parent\n  reg/app:1-abc@sha256:d\nRUN echo reg/app:1-abc\n"
            )
        );
    }

    #[test]
    fn leaves_other_images_and_longer_names_alone() {
        let text = "FROM reg/app:1-abcdef\nFROM reg/app:1-abc@sha256:e\n";
        assert_eq!(
            pin_base(text, "reg/app:1-abc", "sha256:d").as_deref(),
            Some(text)
        );
    }
}
