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
#[command(version, about)]
struct Cli {
    /// Output directory of REPORT.md and report.json [default: theory, or theory/reduced with
    /// --reduced].
    #[arg(long)]
    out: Option<PathBuf>,
    /// Use the reduced sizes of the test suite (seconds instead of minutes).
    #[arg(long)]
    reduced: bool,
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
    let written = experiments::fsutil::write_atomic(&md, report.to_markdown().as_bytes())
        .and_then(|_| experiments::fsutil::write_atomic(&json, report.to_json().as_bytes()));
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
