//! The README's quick start and the commands in `queries/examples/` headers, run as written.
//!
//! The commands are read from the documents themselves, never copied here, so a README that
//! drifts from the binary fails this test: the fenced `sh` blocks of the README section
//! "Two commands on a fresh machine" (its "Then look at what was made" block included) are
//! split into commands as `sh` would split them, and run in order in a fresh directory holding
//! a copy of `data/` and `queries/`, as a new user in a fresh clone would run them.
//! `cargo run --release -- ARGS` runs the binary cargo built for this test with ARGS (the test
//! never starts cargo), and `./tests/run` — the command that runs this very test — is checked,
//! not run. The lake the quick start makes is then the one every example command runs against.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::OnceLock;
use std::time::Duration;

use common::{copy_tree, isolated_gexlake, manifest_dir, output_within};

/// The README section whose commands are the quick start.
const QUICK_START: &str = "## Two commands on a fresh machine";

/// A simple command of a shell snippet.
#[derive(Debug, Clone, PartialEq)]
struct ShellCommand {
    /// `NAME=value` assignments before the command name.
    env: Vec<(String, String)>,
    /// The command name and its arguments, quotes removed.
    words: Vec<String>,
    /// The line the command starts on (1-based, in the document).
    line: usize,
}

/// Splits a POSIX `sh` snippet into simple commands the way `sh` would: words separated by
/// blanks, commands by newlines, `;` and `&&`; `#` comments; backslash line continuations;
/// single and double quotes, which may span lines. Any syntax that would make the shell do
/// more than run commands with literal words (pipes, redirections, expansions, globs,
/// subshells, background jobs) is an error, so a command the test cannot run as the shell
/// would is reported, never run differently. `first_line` is the snippet's line in its document.
fn shell_commands(text: &str, first_line: usize) -> Result<Vec<ShellCommand>, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut commands = Vec::new();
    let mut words: Vec<String> = Vec::new();
    let mut word: Option<String> = None;
    let mut line = first_line;
    let mut start = first_line;
    let mut i = 0;
    let is_name = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '{' | '(');
    let finish_command = |words: &mut Vec<String>, start: usize, commands: &mut Vec<_>| {
        if !words.is_empty() {
            commands.push(command(std::mem::take(words), start));
        }
    };
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        match c {
            '\\' => match next {
                Some('\n') => {
                    line += 1;
                    i += 1;
                }
                Some(n) => {
                    word.get_or_insert_with(String::new).push(n);
                    i += 1;
                }
                None => return Err(format!("line {line}: a backslash ends the snippet")),
            },
            ' ' | '\t' => words.extend(word.take()),
            '\n' | ';' => {
                words.extend(word.take());
                finish_command(&mut words, start, &mut commands);
                if c == '\n' {
                    line += 1;
                }
            }
            '&' if next == Some('&') => {
                words.extend(word.take());
                finish_command(&mut words, start, &mut commands);
                i += 1;
            }
            '#' if word.is_none() => {
                while chars.get(i + 1).is_some_and(|&n| n != '\n') {
                    i += 1;
                }
            }
            '\'' => {
                let w = word.get_or_insert_with(String::new);
                let open = line;
                loop {
                    i += 1;
                    match chars.get(i) {
                        Some('\'') => break,
                        Some(&n) => {
                            line += usize::from(n == '\n');
                            w.push(n);
                        }
                        None => return Err(format!("line {open}: unterminated single quote")),
                    }
                }
            }
            '"' => {
                let w = word.get_or_insert_with(String::new);
                let open = line;
                loop {
                    i += 1;
                    match (chars.get(i), chars.get(i + 1)) {
                        (Some('"'), _) => break,
                        (Some('\\'), Some('\n')) => {
                            line += 1;
                            i += 1;
                        }
                        (Some('\\'), Some(&n)) if matches!(n, '$' | '`' | '"' | '\\') => {
                            w.push(n);
                            i += 1;
                        }
                        (Some('$'), Some(&n)) if is_name(n) => {
                            return Err(format!(
                                "line {line}: `${n}` inside double quotes is expanded by the shell"
                            ));
                        }
                        (Some('`'), _) => {
                            return Err(format!("line {line}: command substitution (`)"));
                        }
                        (Some(&n), _) => {
                            line += usize::from(n == '\n');
                            w.push(n);
                        }
                        (None, _) => return Err(format!("line {open}: unterminated double quote")),
                    }
                }
            }
            '$' if next.is_some_and(is_name) => {
                return Err(format!(
                    "line {line}: `${}` is expanded by the shell",
                    next.unwrap()
                ));
            }
            '|' | '&' | '<' | '>' | '(' | ')' | '`' | '*' | '?' | '[' | '~' => {
                return Err(format!(
                    "line {line}: `{c}` (a pipe, redirection, job, subshell, substitution or \
                     glob) is not a plain command; teach tests/readme_quickstart.rs to run it"
                ));
            }
            _ => word.get_or_insert_with(String::new).push(c),
        }
        if words.is_empty() && word.is_none() {
            start = line;
        }
        i += 1;
    }
    words.extend(word.take());
    finish_command(&mut words, start, &mut commands);
    Ok(commands)
}

/// Splits leading `NAME=value` words off as the command's environment.
fn command(mut words: Vec<String>, line: usize) -> ShellCommand {
    let assignment = |w: &str| {
        w.split_once('=').is_some_and(|(name, _)| {
            !name.is_empty()
                && !name.starts_with(|c: char| c.is_ascii_digit())
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
    };
    let n = words.iter().take_while(|w| assignment(w)).count();
    let env = words
        .drain(..n)
        .map(|w| {
            let (k, v) = w.split_once('=').unwrap();
            (k.to_string(), v.to_string())
        })
        .collect();
    ShellCommand { env, words, line }
}

/// The fenced `sh` blocks of the README section titled `heading`: (first line of the
/// block's content, 1-based; its text).
fn sh_blocks(readme: &str, heading: &str) -> Vec<(usize, String)> {
    let lines: Vec<&str> = readme.lines().collect();
    let begin = lines
        .iter()
        .position(|l| l.trim_end() == heading)
        .unwrap_or_else(|| panic!("README.md has no section {heading:?}"));
    let mut blocks = Vec::new();
    let mut i = begin + 1;
    while i < lines.len() && !lines[i].starts_with("## ") {
        let fence = lines[i].trim_start();
        if let Some(info) = fence.strip_prefix("```") {
            let content = i + 1;
            let end = (content..lines.len())
                .find(|&j| lines[j].trim_start().starts_with("```"))
                .unwrap_or_else(|| panic!("README.md line {}: unclosed code block", i + 1));
            if matches!(info.trim(), "sh" | "bash" | "shell") {
                blocks.push((content + 1, lines[content..end].join("\n")));
            }
            i = end;
        }
        i += 1;
    }
    blocks
}

/// What a quick-start command is, for a test.
#[derive(Debug, Clone, PartialEq)]
enum Step {
    /// A run of the gexlake binary with these arguments.
    Gexlake(Vec<String>),
    /// `./tests/run`: the test suite, this test included.
    TestSuite,
}

/// Maps a documented command to what the test runs: `cargo run [--release] -- ARGS` and
/// `gexlake ARGS` run the built binary with ARGS.
fn step(cmd: &ShellCommand) -> Result<Step, String> {
    let words: Vec<&str> = cmd.words.iter().map(String::as_str).collect();
    match words.as_slice() {
        ["cargo", "run", rest @ ..] => {
            let split = rest.iter().position(|w| *w == "--").unwrap_or(rest.len());
            let (flags, args) = rest.split_at(split);
            if let Some(f) = flags
                .iter()
                .find(|f| !matches!(**f, "--release" | "-r" | "--quiet" | "-q"))
            {
                return Err(format!(
                    "`cargo run {f}`: a cargo flag this test does not know"
                ));
            }
            Ok(Step::Gexlake(
                args.iter().skip(1).map(|s| s.to_string()).collect(),
            ))
        }
        ["gexlake", args @ ..] => Ok(Step::Gexlake(args.iter().map(|s| s.to_string()).collect())),
        ["./tests/run" | "tests/run", ..] => Ok(Step::TestSuite),
        _ => Err(format!(
            "`{}` is neither cargo run, gexlake nor ./tests/run",
            words.join(" ")
        )),
    }
}

/// One documented command and what running it did.
struct Ran {
    /// Where it came from and what it was, for messages.
    what: String,
    /// The gexlake arguments.
    args: Vec<String>,
    /// Its output.
    output: Output,
}

impl Ran {
    #[track_caller]
    fn assert_success(&self) {
        assert!(
            self.output.status.success(),
            "{} failed with {:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.what,
            self.output.status,
            String::from_utf8_lossy(&self.output.stdout),
            String::from_utf8_lossy(&self.output.stderr)
        );
    }

    fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }
}

/// Runs the built binary with `args` and `env` in `dir`, as a user's shell would.
fn run_in(dir: &Path, args: &[String], env: &[(String, String)], what: &str) -> Output {
    let mut cmd = isolated_gexlake();
    cmd.args(args).current_dir(dir).envs(env.iter().cloned());
    output_within(&mut cmd, Duration::from_secs(600), what)
}

/// The quick start, run once for every test of this file: the fresh clone it ran in, the
/// commands it ran (in order, each whatever the ones before did) and how many times it
/// named the test suite.
struct QuickStart {
    clone: tempfile::TempDir,
    ran: Vec<Ran>,
    test_suite: usize,
}

fn quick_start() -> &'static QuickStart {
    static RUN: OnceLock<QuickStart> = OnceLock::new();
    RUN.get_or_init(|| {
        let readme = std::fs::read_to_string(manifest_dir().join("README.md")).unwrap();
        let clone = tempfile::tempdir().unwrap();
        copy_tree(&manifest_dir().join("data"), &clone.path().join("data"));
        copy_tree(
            &manifest_dir().join("queries"),
            &clone.path().join("queries"),
        );
        let mut ran = Vec::new();
        let mut test_suite = 0;
        for (line, block) in sh_blocks(&readme, QUICK_START) {
            let commands = shell_commands(&block, line)
                .unwrap_or_else(|e| panic!("README.md, quick start: {e}"));
            for cmd in commands {
                let what = format!("README.md line {}: `{}`", cmd.line, cmd.words.join(" "));
                match step(&cmd).unwrap_or_else(|e| panic!("{what}: {e}")) {
                    Step::TestSuite => test_suite += 1,
                    Step::Gexlake(args) => {
                        let output = run_in(clone.path(), &args, &cmd.env, &what);
                        ran.push(Ran { what, args, output });
                    }
                }
            }
        }
        QuickStart {
            clone,
            ran,
            test_suite,
        }
    })
}

/// The rows of a result as printed by `gexlake sql` in `format`: header, then cells.
fn result_rows(format: &str, stdout: &str) -> (Vec<String>, Vec<Vec<String>>) {
    match format {
        "table" => {
            // Arrow's pretty table: `| a | b |` lines between `+---+` rules.
            let mut lines = stdout.lines().filter(|l| l.starts_with('|')).map(|l| {
                l.trim_matches('|')
                    .split('|')
                    .map(|c| c.trim().to_string())
                    .collect::<Vec<_>>()
            });
            let header = lines.next().unwrap_or_default();
            (header, lines.collect())
        }
        "csv" => {
            let mut reader = csv::Reader::from_reader(stdout.as_bytes());
            let header = reader.headers().unwrap().iter().map(String::from).collect();
            let rows = reader
                .records()
                .map(|r| r.unwrap().iter().map(String::from).collect())
                .collect();
            (header, rows)
        }
        other => panic!("the test reads table and csv output, not {other}"),
    }
}

/// The value of `--format` in `args` (the default is the table).
fn format_of(args: &[String]) -> &str {
    args.iter()
        .position(|a| a == "--format")
        .map_or("table", |i| args[i + 1].as_str())
}

#[test]
fn the_quick_start_runs_as_written_on_a_fresh_clone() {
    let qs = quick_start();
    assert_eq!(
        qs.test_suite, 1,
        "the quick start names ./tests/run once (the command that runs every test)"
    );
    let run_script = std::fs::read_to_string(manifest_dir().join("tests/run")).unwrap();
    assert!(
        run_script.starts_with("#!/usr/bin/env bash")
            && run_script
                .trim_end()
                .ends_with("exec cargo test --workspace \"$@\""),
        "tests/run is the script that runs `cargo test --workspace`"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(manifest_dir().join("tests/run"))
            .unwrap()
            .permissions()
            .mode();
        assert_ne!(mode & 0o111, 0, "tests/run is executable");
    }

    for ran in &qs.ran {
        ran.assert_success();
    }
    let subcommands: Vec<&str> = qs
        .ran
        .iter()
        .map(|r| r.args.first().map_or("", String::as_str))
        .collect();
    // It builds the lake first, then looks at it (more commands may come in between or after).
    assert_eq!(subcommands.first(), Some(&"backfill"), "{subcommands:?}");
    let query = subcommands
        .iter()
        .position(|c| *c == "sql")
        .map(|i| &qs.ran[i])
        .unwrap_or_else(|| panic!("no `sql` command in the quick start: {subcommands:?}"));

    // The backfill made the default ./lake: three dates of strikes, metrics under both profiles.
    let lake = qs.clone.path().join("lake");
    for day in ["20260204", "20260205", "20260206"] {
        let date = format!("{}-{}-{}", &day[..4], &day[4..6], &day[6..]);
        let expected = [
            format!("orats_strikes/trade_date={date}/ORATS_SMV_Strikes_{day}.parquet"),
            format!("dealer_metrics/params=a3/trade_date={date}/part.parquet"),
            format!("dealer_metrics/params=v2/trade_date={date}/part.parquet"),
            format!("_ingest/ORATS_SMV_Strikes_{day}.json"),
        ];
        for file in expected {
            assert!(lake.join(&file).is_file(), "{file} missing from ./lake");
        }
    }

    // Its first query printed the ten largest |net GEX| of 2026-02-05 under a3.
    let (header, rows) = result_rows(format_of(&query.args), &query.stdout());
    assert_eq!(
        header,
        ["ticker", "status", "gex_net", "gamma_flip", "call_wall"],
        "{}",
        query.stdout()
    );
    let got: Vec<(&str, &str, bool)> = rows
        .iter()
        .map(|r| (r[0].as_str(), r[1].as_str(), !r[4].is_empty()))
        .collect();
    assert_eq!(got, EXPECTED_TOP_TEN, "{}", query.stdout());
    let gex: Vec<f64> = rows.iter().map(|r| r[2].parse().unwrap()).collect();
    assert!(
        gex.windows(2).all(|w| w[0].abs() >= w[1].abs()),
        "ordered by |gex_net|: {gex:?}"
    );
    for row in rows.iter().filter(|r| !r[4].is_empty()) {
        let wall: f64 = row[4]
            .parse()
            .unwrap_or_else(|_| panic!("the call wall is a strike: {row:?}"));
        assert!(wall > 0.0, "{row:?}");
    }
}

/// The ten tickers of `data/` with the largest |net GEX| on 2026-02-05 under a3, largest
/// first, with their status and whether they have a call wall: the big index and ETF chains
/// (as the sample generator scales them), OEX with no call leg of 100 or more OI.
const EXPECTED_TOP_TEN: [(&str, &str, bool); 10] = [
    ("SPX", "FULL", true),
    ("NDX", "FULL", true),
    ("SPY", "FULL", true),
    ("RUT", "FULL", true),
    ("XSP", "FULL", true),
    ("IWM", "FULL", true),
    ("OEX", "LIMITED", false),
    ("META", "FULL", true),
    ("TSLA", "FULL", true),
    ("QQQ", "FULL", true),
];

#[test]
fn every_example_header_command_runs_against_the_quick_start_lake() {
    let qs = quick_start();
    // The lake is the backfill's; the quick start's test judges its other commands.
    qs.ran
        .iter()
        .filter(|r| r.args.first().is_some_and(|a| a == "backfill"))
        .for_each(Ran::assert_success);
    let examples = manifest_dir().join("queries/examples");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&examples)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "sql"))
        .collect();
    files.sort();
    assert!(files.len() >= 5, "{files:?}");
    for file in files {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&file).unwrap();
        let mut sql_runs = 0;
        // The header shows each command as `--   gexlake …`, maybe followed by a remark in
        // parentheses; the remark is not part of the command.
        for (n, line) in text.lines().enumerate() {
            let Some(shown) = line
                .strip_prefix("--")
                .map(str::trim)
                .filter(|l| l.starts_with("gexlake "))
            else {
                continue;
            };
            let shown = shown.split("   (").next().unwrap();
            let what = format!("{name} line {}: `{shown}`", n + 1);
            let cmds = shell_commands(shown, n + 1).unwrap_or_else(|e| panic!("{what}: {e}"));
            assert_eq!(cmds.len(), 1, "{what}");
            let Step::Gexlake(args) = step(&cmds[0]).unwrap() else {
                panic!("{what} is not a gexlake command")
            };
            let output = run_in(qs.clone.path(), &args, &cmds[0].env, &what);
            let ran = Ran { what, args, output };
            ran.assert_success();
            if ran.args[0] == "sql" {
                sql_runs += 1;
                let at = ran.args.iter().position(|a| a == "-f").expect("-f FILE");
                assert_eq!(
                    ran.args[at + 1],
                    format!("queries/examples/{name}"),
                    "{}: runs its own file",
                    ran.what
                );
                let (header, rows) = result_rows(format_of(&ran.args), &ran.stdout());
                assert!(header.len() >= 3, "{}: {header:?}", ran.what);
                assert!(!rows.is_empty(), "{} printed no row", ran.what);
                assert!(rows.iter().all(|r| r.len() == header.len()), "{}", ran.what);
            }
        }
        assert!(
            sql_runs >= 1,
            "{name}: no `gexlake sql -f` command in its header"
        );
    }
}

#[test]
fn shell_snippets_split_as_sh_splits_them() {
    let text = "# a comment\ncargo run --release -- backfill --dir data   # trailing\n\
                ./tests/run\n\
                gexlake sql \"SELECT 'a' AS x,\n   2 AS \\\"y\\\"\" --format csv\n\
                A=1 gexlake --x \\\n  'it''s' ''; gexlake b && gexlake c\\ d\n";
    let cmds = shell_commands(text, 10).unwrap();
    let words: Vec<Vec<&str>> = cmds
        .iter()
        .map(|c| c.words.iter().map(String::as_str).collect())
        .collect();
    assert_eq!(
        words,
        vec![
            vec![
                "cargo",
                "run",
                "--release",
                "--",
                "backfill",
                "--dir",
                "data"
            ],
            vec!["./tests/run"],
            vec![
                "gexlake",
                "sql",
                "SELECT 'a' AS x,\n   2 AS \"y\"",
                "--format",
                "csv"
            ],
            vec!["gexlake", "--x", "its", ""],
            vec!["gexlake", "b"],
            vec!["gexlake", "c d"],
        ]
    );
    let lines: Vec<usize> = cmds.iter().map(|c| c.line).collect();
    assert_eq!(lines, [11, 12, 13, 15, 16, 16]);
    assert_eq!(cmds[3].env, [("A".to_string(), "1".to_string())]);
    assert!(cmds[0].env.is_empty());

    assert_eq!(
        step(&cmds[0]).unwrap(),
        Step::Gexlake(vec!["backfill".into(), "--dir".into(), "data".into()])
    );
    assert_eq!(step(&cmds[1]).unwrap(), Step::TestSuite);
    assert!(step(&command(vec!["cargo".into(), "build".into()], 1)).is_err());
    assert!(
        step(&command(
            vec!["cargo".into(), "run".into(), "--features".into()],
            1
        ))
        .is_err()
    );

    for bad in [
        "gexlake sql \"SELECT $x\"",
        "gexlake sql $QUERY",
        "gexlake sql | head",
        "gexlake sql > out.csv",
        "gexlake ingest data/*.zip",
        "gexlake sql 'unclosed",
        "gexlake sql \"unclosed",
        "gexlake x &",
    ] {
        assert!(shell_commands(bad, 1).is_err(), "{bad} should be refused");
    }
    // A `$` that starts no expansion, and `#` inside a word, are literal.
    let literal = shell_commands("gexlake sql \"SELECT '$'\" a#b", 1).unwrap();
    assert_eq!(literal[0].words, ["gexlake", "sql", "SELECT '$'", "a#b"]);
}

#[test]
fn only_the_quick_start_section_is_read() {
    let readme = "# x\n\n## Two commands on a fresh machine\n\n```sh\na 1\n```\n\ntext\n\n\
                  ```text\nnot shell\n```\n\n```sh\nb 2\n```\n\n## Commands\n\n```sh\nc 3\n```\n";
    assert_eq!(
        sh_blocks(readme, QUICK_START),
        vec![(6, "a 1".to_string()), (16, "b 2".to_string())]
    );
}
