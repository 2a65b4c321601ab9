//! The interactive SQL shell of `gexlake sql`: line editing, history kept
//! across sessions, statements run when a line ends them with `;`.

use std::path::PathBuf;

use anyhow::Result;
use datafusion::prelude::SessionContext;
use rustyline::error::ReadlineError;
use rustyline::history::DefaultHistory;
use rustyline::{Config, Editor};

use super::sql::{Output, Param, RunError, parse_param, run_script, statement_complete};

const HELP: &str = "\
Statements end with ';' and may span lines. Tables: strikes (ORATS rows),
dealer_metrics (every parameter set; `params` is a column), strike_gex (per
strike GEX under the session's parameters). Examples: queries/examples/.
  \\d            list tables        \\d NAME   describe a table
  \\set          list parameters    \\set NAME VALUE   bind $NAME
  \\timing       toggle row counts and timings
  \\q            quit (or Ctrl-D)   Ctrl-C clears the statement being typed";

/// Where the history is kept: `$GEXLAKE_HISTORY`, else `~/.gexlake_history`.
fn history_path() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("GEXLAKE_HISTORY") {
        return Some(PathBuf::from(path));
    }
    std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".gexlake_history"))
}

/// Runs the shell until `\q` or end of input; SQL errors are printed and the
/// shell goes on.
pub async fn run_shell(
    ctx: &SessionContext,
    banner: &str,
    mut params: Vec<Param>,
    mut output: Output,
) -> Result<()> {
    let config = Config::builder()
        .max_history_size(10_000)?
        .auto_add_history(false)
        .build();
    let mut editor: Editor<(), DefaultHistory> = Editor::with_config(config)?;
    let history = history_path();
    if let Some(path) = &history {
        // A first session has no history file yet.
        let _ = editor.load_history(path);
    }
    println!("{banner}\nEnd statements with ';'. \\? for help, \\q to quit.");
    output.timing = true;
    let mut buffer = String::new();
    loop {
        let prompt = if buffer.is_empty() {
            "gexlake> "
        } else {
            "     ..> "
        };
        let line = match editor.readline(prompt) {
            Ok(line) => line,
            Err(ReadlineError::Interrupted) => {
                buffer.clear();
                continue;
            }
            Err(ReadlineError::Eof) => break,
            Err(e) => return Err(e.into()),
        };
        let trimmed = line.trim();
        if buffer.is_empty() {
            if trimmed.is_empty() {
                continue;
            }
            if let Some(command) = trimmed.strip_prefix('\\') {
                editor.add_history_entry(trimmed)?;
                match meta_command(command, &mut params, &mut output) {
                    Meta::Quit => break,
                    Meta::Done => {}
                    Meta::Sql(sql) => run_and_report(ctx, &sql, &params, &mut output).await?,
                }
                continue;
            }
            if matches!(trimmed, "quit" | "exit") {
                break;
            }
        }
        buffer.push_str(&line);
        buffer.push('\n');
        if statement_complete(&buffer) {
            editor.add_history_entry(buffer.trim_end())?;
            run_and_report(ctx, &buffer, &params, &mut output).await?;
            buffer.clear();
        }
    }
    if let Some(path) = &history
        && let Err(e) = editor.save_history(path)
    {
        tracing::warn!("cannot save the shell history to {}: {e}", path.display());
    }
    Ok(())
}

/// What a backslash command asks for.
enum Meta {
    Quit,
    Done,
    Sql(String),
}

fn meta_command(command: &str, params: &mut Vec<Param>, output: &mut Output) -> Meta {
    let mut words = command.split_whitespace();
    match words.next().unwrap_or("") {
        "q" => Meta::Quit,
        "?" | "h" | "help" => {
            println!("{HELP}");
            Meta::Done
        }
        "d" => match words.next() {
            None => Meta::Sql(
                "SELECT table_name, table_type FROM information_schema.tables \
                 WHERE table_schema = 'public' ORDER BY table_name;"
                    .into(),
            ),
            Some(name) => Meta::Sql(format!("DESCRIBE {name};")),
        },
        "set" => {
            let rest: Vec<&str> = words.collect();
            if rest.is_empty() {
                for (name, value) in params.iter() {
                    println!("${name} = {value} ({})", value.data_type());
                }
                return Meta::Done;
            }
            match parse_param(&format!("{}={}", rest[0], rest[1..].join(" "))) {
                Ok((name, value)) => {
                    params.retain(|(n, _)| *n != name);
                    params.push((name, value));
                }
                Err(e) => eprintln!("\\set: {e}"),
            }
            Meta::Done
        }
        "timing" => {
            output.timing = !output.timing;
            println!("timing {}", if output.timing { "on" } else { "off" });
            Meta::Done
        }
        other => {
            eprintln!("unknown command \\{other}: \\? lists them");
            Meta::Done
        }
    }
}

async fn run_and_report(
    ctx: &SessionContext,
    sql: &str,
    params: &[Param],
    output: &mut Output,
) -> Result<()> {
    match run_script(ctx, sql, params, output).await {
        Ok(()) => Ok(()),
        Err(RunError::Sql(e)) => {
            eprintln!("{e}");
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}
