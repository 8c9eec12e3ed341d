//! The `ingress` subcommands that are not the server: `import` turns a NocoBase workflow file
//! into a Hookflow definition on stdout, with no configuration, database or network; `--help`
//! lists what the binary does.

use std::io::{Read, Write};

use hookflow_shared::nocobase;

pub const USAGE: &str = "\
usage: ingress [COMMAND]

Without a command: serves webhooks and the admin API (configured by HOOKFLOW_* variables).

commands:
  healthcheck               exit 0 when the running ingress is ready (asks its /readyz)
  import FILE [--lenient]   print the Hookflow definition of a NocoBase workflow on stdout
                            (FILE: the answer of workflows:get?appends[]=nodes, or its data;
                            - reads stdin); warnings and problems go to stderr. Exit 1 on
                            problems, unless --lenient leaves out what cannot be imported;
                            exit 2 when FILE cannot be read
  --help                    this text
";

/// Exit codes of `import`.
const PROBLEMS: i32 = 1;
const UNREADABLE: i32 = 2;

/// Runs `ingress import` with the arguments after `import`; returns the exit code.
pub fn import(args: &[String]) -> i32 {
    let mut lenient = false;
    let mut files = Vec::new();
    for arg in args {
        match arg.as_str() {
            "--lenient" => lenient = true,
            "-h" | "--help" => {
                print!("{USAGE}");
                return 0;
            }
            // `-` is stdin; anything else starting with a dash is a flag we do not know.
            flag if flag.starts_with('-') && flag != "-" => {
                eprintln!("ingress import: unknown option {flag}\n\n{USAGE}");
                return UNREADABLE;
            }
            file => files.push(file),
        }
    }
    let [file] = files.as_slice() else {
        eprintln!("ingress import: expected one FILE\n\n{USAGE}");
        return UNREADABLE;
    };
    let text = match read(file) {
        Ok(text) => text,
        Err(error) => {
            eprintln!("ingress import: cannot read {file}: {error}");
            return UNREADABLE;
        }
    };
    let value: serde_json::Value = match serde_json::from_slice(&text) {
        Ok(value) => value,
        Err(error) => {
            eprintln!("ingress import: {file} is not JSON: {error}");
            return UNREADABLE;
        }
    };
    let imported = match lenient {
        true => nocobase::import_lenient(&value),
        false => nocobase::import(&value),
    };
    match imported {
        Ok(imported) => {
            for warning in &imported.warnings {
                eprintln!("warning: {warning}");
            }
            for skipped in &imported.skipped {
                eprintln!("skipped: {skipped}");
            }
            let text = serde_json::to_string_pretty(&imported.definition).unwrap_or_default();
            let mut stdout = std::io::stdout().lock();
            // A closed pipe (`| head`) is the reader's choice, not a failure to report.
            let _ = writeln!(stdout, "{text}").and_then(|()| stdout.flush());
            0
        }
        Err(problems) => {
            for problem in &problems {
                eprintln!("problem: {problem}");
            }
            eprintln!(
                "ingress import: {} problem(s); nothing imported (--lenient leaves out what it can)",
                problems.len()
            );
            PROBLEMS
        }
    }
}

fn read(file: &str) -> std::io::Result<Vec<u8>> {
    if file == "-" {
        let mut text = Vec::new();
        std::io::stdin().lock().read_to_end(&mut text)?;
        Ok(text)
    } else {
        std::fs::read(file)
    }
}
