//! `theory`: runs every check at full size, writes theory/REPORT.md and theory/report.json, and
//! exits with status 1 if any row failed or is borderline (2 if the report could not be written). `--reduced`
//! writes to theory/reduced/ instead, so it never replaces the full report.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use theory_checks::{run_all, Scale};

/// `println!` that ignores a closed standard output (`… | head -1`): what it prints is
/// informational (the results are files), so a closed pipe must neither panic nor stop the work.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

/// Numbers next to the theorem's predictions; PASS/FAIL per prediction.
#[derive(Parser)]
#[command(
    version,
    about,
    after_help = "Exit status: 0 if every judged row passed, 1 if one failed or is borderline \
                  (the report is written either way), 2 if the report could not be written."
)]
struct Cli {
    /// Output directory of REPORT.md and report.json [default: theory, or theory/reduced with
    /// --reduced].
    #[arg(long)]
    out: Option<PathBuf>,
    /// Use the reduced sizes of the test suite (seconds instead of minutes).
    #[arg(long)]
    reduced: bool,
}

/// Whether `dir`/report.json is a report at the full scale.
fn holds_full_report(dir: &std::path::Path) -> bool {
    std::fs::read_to_string(dir.join("report.json"))
        .ok()
        .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
        .is_some_and(|v| v["scale"]["name"] == "full")
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let scale = if cli.reduced {
        Scale::reduced()
    } else {
        Scale::full()
    };
    let out = cli.out.unwrap_or_else(|| {
        PathBuf::from(if cli.reduced {
            "theory/reduced"
        } else {
            "theory"
        })
    });
    // Fail on a bad --out before the checks run (minutes at full size), not after.
    if let Err(e) = experiments::fsutil::ensure_writable_dir(&out) {
        eprintln!("error: --out {}: {e}", out.display());
        return ExitCode::from(2);
    }
    // A reduced run never replaces a full report (minutes of computing, committed in theory/).
    if cli.reduced && holds_full_report(&out) {
        eprintln!(
            "error: --out {}: it holds a full-scale report (report.json), which a --reduced run \
             would replace; choose another directory (the default is theory/reduced)",
            out.display()
        );
        return ExitCode::from(2);
    }
    eprintln!(
        "theory-checks at the {} scale (n = {}, r = {})…",
        scale.name, scale.n, scale.r
    );
    let report = run_all(&scale, &|c| {
        eprintln!(
            "check {} {:<60} {} ({:.0} s)",
            c.id,
            c.title,
            c.verdict().label(),
            c.seconds
        )
    });
    let md = out.join("REPORT.md");
    let json = out.join("report.json");
    // Both files are written before either is renamed into place, so a failure while writing
    // leaves the previous pair as it was (the two renames themselves are not one operation).
    let (md_text, json_text) = (report.to_markdown(), report.to_json());
    let written = experiments::fsutil::write_set_atomic(&[
        (md.as_path(), md_text.as_bytes()),
        (json.as_path(), json_text.as_bytes()),
    ]);
    if let Err(e) = written {
        eprintln!("error: writing {}: {e}", out.display());
        return ExitCode::from(2);
    }
    say!("{}", md.display());
    say!("{}", json.display());
    eprintln!(
        "theory: {} passed, {} failed, {} borderline ({} info rows) in {:.0} s",
        report.counts.pass,
        report.counts.fail,
        report.counts.borderline,
        report.counts.info,
        report.seconds
    );
    if report.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
