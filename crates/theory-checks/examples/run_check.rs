//! Runs one theory check at full (or, with `--reduced`, reduced) scale and prints its rows; writes
//! no report. For developing a check without the whole `make theory`.
//!
//! Run: `cargo run --release -p theory-checks --example run_check -- 7 [--reduced]`

use theory_checks::{checks, Check, Scale};

/// A check of `theory_checks::checks`.
type CheckFn = fn(&Scale) -> Check;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let scale = if args.iter().any(|a| a == "--reduced") {
        Scale::reduced()
    } else {
        Scale::full()
    };
    let all: [(&str, CheckFn); 7] = [
        ("1", checks::alignment),
        ("2", checks::error_exponent),
        ("3", checks::iteration_counts),
        ("4", checks::overparameterization),
        ("5", checks::operator),
        ("6", checks::preconditioned),
        ("7", checks::noise),
    ];
    let Some((_, check)) = all.iter().find(|(id, _)| args.iter().any(|a| a == id)) else {
        eprintln!("usage: run_check <1-7> [--reduced]");
        std::process::exit(2);
    };
    let c = check(&scale);
    println!(
        "check {}: {} — {} ({:.0} s)",
        c.id,
        c.title,
        c.verdict().label(),
        c.seconds
    );
    for r in &c.rows {
        println!(
            "{} | {} | {} | {}",
            r.verdict.label(),
            r.case,
            r.quantity,
            r.measured
        );
    }
}
